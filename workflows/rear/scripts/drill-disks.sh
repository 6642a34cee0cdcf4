#!/bin/sh
# rearRecoveryDrill: the copy's empty disks, each as large as the original's (the recovery's layout needs
# the same sizes). A disk this run made already is kept (a retry). Owner-only: a recovered disk holds the
# whole machine. Args: PATH BYTES [PATH BYTES…]
set -eu
umask 077
while [ $# -ge 2 ]; do
  if [ ! -e "$1" ]; then
    qemu-img create -q -f qcow2 -- "$1.partial" "$2"
    mv -f -- "$1.partial" "$1"
  fi
  echo "$1 $2"
  shift 2
done
