#!/bin/sh
# rearControllerRecovery: `virsh shutdown` only while the domain runs, so a retried step does not fail on
# a domain that is already off. Args: DOMAIN VIRSH... (the virsh command, with its -c URI if any).
d=$1
shift
st=$("$@" domstate "$d") || exit 1
if [ "$st" = running ]; then "$@" shutdown "$d"; else echo "$d is already $st"; fi
