#!/bin/sh
# rearBackup, on the store before mkbackup: moves the previous ISO, archive and record out of DIR into
# KEPT/<stamp>/ (the stamp is the archive's or ISO's modification time, UTC), so mkbackup never
# overwrites the last good backup. Owner and mode as DIR. Prints "kept <dir>" or "kept none".
# Args: DIR KEPT ISO ARCHIVE.
set -e
dir=$1 kept=$2 iso=$3 archive=$4
cd "$dir" 2>/dev/null || { echo "kept none"; exit 0; }
first=
for f in "$archive" "$iso" runbook-record.json; do
  if [ -e "$f" ]; then first=$f; break; fi
done
[ -n "$first" ] || { echo "kept none"; exit 0; }
stamp=$(date -u -r "$first" +%Y-%m-%dT%H-%M-%SZ)
owner=$(stat -c %U:%G .)
install -d -o "${owner%%:*}" -g "${owner##*:}" -m 0750 "$kept" "$kept/$stamp"
for f in "$iso" "$archive" runbook-record.json backup.log; do
  if [ -e "$f" ]; then mv -f -- "$f" "$kept/$stamp/$f"; fi
done
echo "kept $kept/$stamp"
