#!/bin/sh
# rearRecoveryDrill: the copy's first boot from its recovered disk, read on its serial log from byte OFFSET:
# the login prompt of the recorded host ("<host> login:"). Prints what it saw; exits 0 only on the prompt.
# Args: DOMAIN LOG OFFSET SECONDS PROMPT VIRSH...
d=$1
log=$2
off=$3
t=$4
prompt=$5
shift 5
i=0
while :; do
  if tail -c +$((off + 1)) "$log" 2>/dev/null | grep -F -q -- "$prompt"; then
    echo "booted: \"$prompt\" after ${i}s"
    exit 0
  fi
  st=$("$@" domstate "$d") || exit 1
  [ "$st" = "shut off" ] && { echo "the copy powered off before its login prompt"; exit 4; }
  [ "$i" -ge "$t" ] && { echo "no login prompt after ${t}s (domain $st)"; exit 5; }
  sleep 2
  i=$((i + 2))
done
