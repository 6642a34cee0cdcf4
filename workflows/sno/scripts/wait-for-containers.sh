#!/bin/sh
# Waits until every control-plane container runs with an id other than the one noted before the restore.
# Arguments: <name>=<container id noted before> (the id may be empty). Bounded by the step's host-side timeout.
# upgrade-recovery.sh carries the same loop as its wait_for_containers function.
for pair in "$@"; do
  name=${pair%%=*}; old=${pair#*=}
  until id=$(crictl ps -q --name "$name" | head -n1) && [ -n "$id" ] && [ "$id" != "$old" ]; do sleep 2; done
  echo "$name: $id (was ${old:-none})"
done
