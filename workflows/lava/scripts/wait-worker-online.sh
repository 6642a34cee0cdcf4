#!/bin/sh
# Waits (bounded, on the master) until it shows the worker Online: a worker reconnects within seconds.
# Arguments: the worker's name, the seconds to wait.
i=0
while [ "$i" -lt $(($2 * 2)) ]; do
  if lava-server manage workers details "$1" 2>/dev/null | grep -q "^state *: Online$"; then
    echo "online $1"
    exit 0
  fi
  sleep 0.5
  i=$((i + 1))
done
lava-server manage workers details "$1" | grep "^state" >&2
exit 1
