#!/bin/sh
# rearBackup before mkbackup: `rear checklayout` (0: the disk layout is the one the last rescue image
# recorded, 1: it changed, anything else: no earlier layout or an error). Read-only; prints "exit <n>"
# last, so the step itself never fails on a changed layout.
out=$(rear checklayout 2>&1)
rc=$?
printf '%s\n' "$out" | tail -n 20
echo "exit $rc"
