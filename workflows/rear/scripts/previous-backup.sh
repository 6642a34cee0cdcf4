#!/bin/sh
# rearBackup, on the store before mkbackup: what the previous backup of a node left in DIR (the files
# mkbackup would overwrite) and its record. Args: DIR ISO ARCHIVE. Changes nothing.
cd "$1" 2>/dev/null || { echo @files; echo @record; exit 0; }
echo @files
for f in "$2" "$3" runbook-record.json; do
  [ -e "$f" ] && echo "$f"
done
echo @record
cat runbook-record.json 2>/dev/null || true
