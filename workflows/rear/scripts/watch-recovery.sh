#!/bin/sh
# rearControllerRecovery, unattended mode: watches the serial log from byte OFFSET (its size before this
# start: the log is appended across boots) for ReaR's own result lines, and the domain's state. Prints
# "recovery: finished|failed|…"; exits 0 only on success.
# Args: DOMAIN LOG OFFSET SECONDS FINISHED_LINE FAILED_LINE VIRSH...
d=$1
log=$2
off=$3
t=$4
ok=$5
bad=$6
shift 6
i=0
while :; do
  new=$(tail -c +$((off + 1)) "$log" 2>/dev/null)
  case "$new" in
    *"$ok"*) echo "recovery: finished"; exit 0 ;;
    *"$bad"*) echo "recovery: failed (ReaR: $bad)"; exit 3 ;;
  esac
  st=$("$@" domstate "$d") || exit 1
  [ "$st" = "shut off" ] && { echo "recovery: the domain powered off before ReaR reported a result"; exit 4; }
  [ "$i" -ge "$t" ] && { echo "recovery: no result after ${t}s (domain $st)"; exit 5; }
  sleep 2
  i=$((i + 2))
done
