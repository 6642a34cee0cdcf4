#!/bin/sh
# rearControllerRecovery's cleanup: defines the saved original definition again if this run saved one
# (safe at any point: before the save there is nothing to put back). Args: SAVED_FILE VIRSH...
f=$1
shift
if [ -f "$f" ]; then "$@" define "$f"; else echo "no saved definition: the domain was never edited"; fi
