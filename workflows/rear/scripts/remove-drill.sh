#!/bin/sh
# rearRecoveryDrill, at the end and in its cleanup: the copy and everything made for it go, and only if the
# domain is this run's (its description names the run): never another domain of the same name.
# Args: NAME RUNTAG FILE... -- VIRSH...
n=$1
tag=$2
shift 2
files=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  files="$files
$1"
  shift
done
shift
if "$@" domstate "$n" > /dev/null 2>&1; then
  if ! "$@" dumpxml --inactive "$n" | grep -F -q -- "$tag"; then
    echo "$n is not this drill's domain: left alone" >&2
    exit 3
  fi
  [ "$("$@" domstate "$n")" = "shut off" ] || "$@" destroy "$n" > /dev/null || exit 1
  "$@" undefine --nvram "$n" > /dev/null 2>&1 || "$@" undefine "$n" > /dev/null || exit 1
  echo "undefined $n"
fi
echo "$files" | while IFS= read -r f; do
  [ -n "$f" ] || continue
  rm -f -- "$f" "$f.partial"
done
echo removed
