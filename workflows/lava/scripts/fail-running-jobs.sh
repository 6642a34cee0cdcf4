#!/bin/sh
# Jobs that were running when the backup was taken can never finish: fail them (RUNNING and CANCELING,
# uppercase flags; `jobs fail` does not stop a lava-run process, but every worker is stopped). Queued ones
# are listed for the operator. Job ids are parsed from "* <time> - <id>@<submitter> - <description>".
ids() { lava-server manage jobs list --state "$1" | sed -n 's/^\* .* - \([0-9]*\)@.*/\1/p'; }
for s in RUNNING CANCELING; do
  for id in $(ids "$s"); do lava-server manage jobs fail "$id" > /dev/null && echo "failed $id"; done
done
for s in SUBMITTED SCHEDULING SCHEDULED; do
  for id in $(ids "$s"); do echo "queued $id $s"; done
done
true
