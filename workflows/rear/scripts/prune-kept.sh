#!/bin/sh
# rearBackup, on the store once the new backup is verified and recorded: removes kept backups of a node
# beyond the newest COUNT (their names are UTC stamps, so they sort by age). Prints each one removed.
# Args: KEPT COUNT.
set -e
kept=$1 count=$2
[ -d "$kept" ] || exit 0
find "$kept" -mindepth 1 -maxdepth 1 -type d -name '20*' | sort -r | tail -n +"$((count + 1))" | while read -r old; do
  rm -rf -- "$old"
  echo "pruned $old"
done
