#!/bin/sh
# One line per service: "running NAME" or "stopped NAME" (LSB status: 0 running, 3 not running).
for s in "$@"; do
  if service "$s" status > /dev/null 2>&1; then echo "running $s"; else echo "stopped $s"; fi
done
