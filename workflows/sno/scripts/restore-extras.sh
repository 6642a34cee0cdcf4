#!/bin/sh
# Stage 1 after the rsyncs: TALM's backup also writes extras.tgz (MachineConfig files outside /etc and
# /usr/local); untar it over / when the backup has one. The runbook's own backup writes none.
set -eu
if [ -f "$1/extras.tgz" ]; then
  tar -C / -xzf "$1/extras.tgz"
  echo "extras.tgz restored"
else
  echo "no extras.tgz in $1"
fi
