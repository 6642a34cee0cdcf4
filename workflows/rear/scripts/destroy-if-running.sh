#!/bin/sh
# rearControllerRecovery: hard power-off (`virsh destroy`) only if the domain is not shut off yet; then it
# must be shut off (printed; the exit status says whether it is). Args: DOMAIN VIRSH...
d=$1
shift
st=$("$@" domstate "$d") || exit 1
if [ "$st" != "shut off" ]; then "$@" destroy "$d" || exit 1; fi
st=$("$@" domstate "$d")
echo "$st"
[ "$st" = "shut off" ]
