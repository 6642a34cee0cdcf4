#!/bin/sh
# Before a recovery: the backup in $1 has its four parts and matches its manifest; lists cluster/.
# A backup made by TALM's own backup Job writes no manifest.sha256: its structure is checked and the run
# says that its contents could not be verified.
set -eu
cd "$1"
for d in cluster etc local kubelet; do
  [ -d "$d" ] || { echo "$1/$d is missing: not a complete backup" >&2; exit 1; }
done
if [ -f manifest.sha256 ]; then
  sha256sum --quiet -c manifest.sha256
else
  echo "NOTE: no manifest.sha256 (a backup made by TALM itself): the parts are present, their contents cannot be verified"
fi
ls cluster
