#!/bin/sh
# rearRecoveryDrill, before anything: the copy's name is free on this hypervisor, or already this run's
# (a retry: its description names the run). Prints "free", "ours" or "taken".
# Args: NAME RUNTAG VIRSH...
n=$1
tag=$2
shift 2
if ! "$@" domstate "$n" > /dev/null 2>&1; then
  echo free
  exit 0
fi
if "$@" dumpxml --inactive "$n" | grep -F -q -- "$tag"; then
  echo ours
  exit 0
fi
echo taken
