#!/bin/sh
# Retention on the backup store: keeps the newest N sealed bundles of one directory and removes the
# rest; incomplete and stale partial bundles older than a week go too. Runs only after the new bundle
# was sealed and checked. Arguments: the directory, N, the sealed-name pattern (POSIX ERE).
cd "$1" || exit
printf '%s\n' * | grep -E "$3" | sort -r | tail -n +"$(($2 + 1))" | while read -r b; do
  rm -rf -- "$b" && echo "removed $b"
done
find . -maxdepth 1 \( -name "*.partial" -o -name "*.incomplete" \) -mtime +6 -exec rm -rf -- {} +
true
