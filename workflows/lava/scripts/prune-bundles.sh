#!/bin/sh
# Retention on the backup store: removes the named sealed bundles of one directory (the worker chose them:
# signed bundles beyond the newest N by signed creation time; an unsigned one is never counted nor removed);
# incomplete and stale partial bundles older than a week go too. Runs only after the new bundle was sealed
# and checked. Arguments: the directory, the sealed-name pattern (POSIX ERE), then the bundle names.
cd "$1" || exit
pattern=$2
shift 2
for b in "$@"; do
  printf '%s\n' "$b" | grep -qxE "$pattern" || { echo "not a sealed bundle name: $b" >&2; exit 2; }
  [ -d "$b" ] && rm -rf -- "$b" && echo "removed $b"
done
find . -maxdepth 1 \( -name "*.partial" -o -name "*.incomplete" \) -mtime +6 -exec rm -rf -- {} +
true
