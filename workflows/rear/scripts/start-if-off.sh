#!/bin/sh
# rearControllerRecovery: `virsh start` unless the domain already runs (a retry after the start went
# through). Args: DOMAIN VIRSH...
d=$1
shift
st=$("$@" domstate "$d") || exit 1
if [ "$st" = running ]; then echo "$d is already running"; else "$@" start "$d"; fi
