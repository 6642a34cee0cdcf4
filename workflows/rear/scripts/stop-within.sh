#!/bin/sh
# rearControllerRecovery, once `rear recover` is over: shuts the rescue system down, waits up to SECONDS,
# and destroys it if it would not stop. Args: DOMAIN SECONDS VIRSH...
d=$1
t=$2
shift 2
i=0
st=$("$@" domstate "$d") || exit 1
[ "$st" = running ] && "$@" shutdown "$d"
while :; do
  st=$("$@" domstate "$d") || exit 1
  [ "$st" = "shut off" ] && { echo "shut off after ${i}s"; exit 0; }
  [ "$i" -ge "$t" ] && break
  sleep 1
  i=$((i + 1))
done
"$@" destroy "$d" && echo "destroyed after ${t}s"
