#!/bin/sh
# rearBackup, on the store after the upload: "<file> <bytes> <sha256>" for each file in DIR, or
# "missing <file>" when it is absent or empty. Args: DIR FILE...
cd "$1" || exit 1
shift
for f in "$@"; do
  if [ -s "$f" ]; then
    echo "$f $(stat -c %s "$f") $(sha256sum < "$f" | cut -d" " -f1)"
  else
    echo "missing $f"
  fi
done
