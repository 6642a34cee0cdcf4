#!/bin/sh
# Starts LAVA services, waits (bounded) until each reports running, then prints the error lines their logs
# gained since the start: "error <service>: <line>".
# Arguments: N services, then their N log files in the same order (/dev/null for one without a log).
set -u
n=$(($# / 2))
plan=$(mktemp)
trap 'rm -f "$plan" "$plan.names"' EXIT
# "service offset log" per line: where each log ended before the start.
i=0
for s; do
  i=$((i + 1))
  [ "$i" -le "$n" ] && echo "$s" >> "$plan.names"
done
shift "$n"
while read -r s; do
  log=$1
  shift
  off=0
  [ -f "$log" ] && off=$(stat -c %s "$log")
  echo "$s $off $log" >> "$plan"
done < "$plan.names"
rm -f "$plan.names"
while read -r s _; do service "$s" start < /dev/null || exit $?; done < "$plan"
ok=0
for _ in $(seq 1 60); do
  ok=1
  while read -r s _; do service "$s" status < /dev/null > /dev/null 2>&1 || ok=0; done < "$plan"
  [ "$ok" = 1 ] && break
  sleep 0.5
done
if [ "$ok" != 1 ]; then
  while read -r s _; do service "$s" status < /dev/null > /dev/null 2>&1 || echo "not running $s"; done < "$plan"
  exit 5
fi
names=""
while read -r s off log; do
  names="$names $s"
  [ -f "$log" ] && tail -c +$((off + 1)) "$log" | grep -E "ERROR|CRITICAL|Traceback" | head -n 5 | sed "s|^|error $s: |"
done < "$plan"
echo "running$names"
