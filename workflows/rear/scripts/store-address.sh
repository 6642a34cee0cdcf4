#!/bin/sh
# rearBackup, on a node: the address the node resolves the store's name to ("address <ip>", or "address
# none"), and whether /etc/hosts (which ReaR copies into the rescue system) already has it ("in-hosts
# yes|no"): if not, the rescue system gets a line for it (the seed: "undercloud-0 can't be resolved").
# Args: STORE.
a=$(getent hosts "$1" | awk 'NR == 1 { print $1 }')
echo "address ${a:-none}"
if awk -v n="$1" '$1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == n) f = 1 } END { exit !f }' /etc/hosts; then echo "in-hosts yes"; else echo "in-hosts no"; fi
