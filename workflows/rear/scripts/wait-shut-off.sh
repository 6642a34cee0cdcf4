#!/bin/sh
# rearControllerRecovery: polls `domstate` every second until "shut off" or SECONDS passed; prints "off"
# or the state it stayed in (exit 0 either way: the run decides). Args: DOMAIN SECONDS VIRSH...
d=$1
t=$2
shift 2
i=0
while :; do
  st=$("$@" domstate "$d") || exit 1
  [ "$st" = "shut off" ] && { echo off; exit 0; }
  [ "$i" -ge "$t" ] && { echo "still $st after ${t}s"; exit 0; }
  sleep 1
  i=$((i + 1))
done
