#!/bin/sh
# rearControllerRecovery, on the hypervisor: the recovery key's drive removed once the rescue system is
# off (and in the cleanup, whatever happened). Args: ISO_PATH.
rm -f -- "$1" "$1.partial"
echo forgotten
