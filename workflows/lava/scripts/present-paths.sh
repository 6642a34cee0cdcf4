#!/bin/sh
# "present PATH" or "absent PATH" for each path relative to /: optional configuration is recorded as absent.
cd / || exit
for p in "$@"; do
  if [ -e "$p" ]; then echo "present $p"; else echo "absent $p"; fi
done
