#!/bin/sh
# Writes manifest.sha256 in the backup directory ($1): the sha256 of every file of the backup, so the
# recovery (the runbook or the standalone upgrade-recovery.sh) can tell a complete backup from a damaged one.
# Prints the number of files listed, then the manifest's own sha256.
# shellcheck disable=SC2094 # find skips manifest.sha256 by name: the pipeline never reads the file it writes
cd "$1" && find . -type f ! -name manifest.sha256 -print0 | sort -z | xargs -0 sha256sum > manifest.sha256 && wc -l < manifest.sha256 && sha256sum manifest.sha256
