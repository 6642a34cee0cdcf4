#!/bin/sh
# labDrill's flaky step: counts its executions in ~/drill/<workflowId>.count and fails on the first one
# only, so a one-shot step's "retry" decision can be drilled.
set -eu
run_id=$1
mkdir -p "$HOME/drill"
count="$HOME/drill/$run_id.count"
echo run >> "$count"
if [ "$(wc -l < "$count")" -lt 2 ]; then
  echo "first execution fails on purpose" >&2
  exit 3
fi
