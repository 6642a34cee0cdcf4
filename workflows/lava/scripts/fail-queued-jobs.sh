#!/bin/sh
# Jobs left queued in the restored database, failed before the scheduler starts (the source: "cancel test
# jobs already running and in the queue"). SCHEDULING and SCHEDULED jobs hold a device reservation made
# before the backup and would start as soon as their worker is back; SUBMITTED ones only when asked.
# Arguments: the states to fail (uppercase flags of `jobs list --state`).
ids() { lava-server manage jobs list --state "$1" | sed -n 's/^\* .* - \([0-9]*\)@.*/\1/p'; }
for s in "$@"; do
  for id in $(ids "$s"); do lava-server manage jobs fail "$id" > /dev/null && echo "failed $id"; done
done
true
