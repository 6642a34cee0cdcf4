#!/bin/sh
# The lab sno-node's "machine": runs in its own mount namespace (the recovery partition, a tmpfs, lives
# here and so survives the node's reboots), boots the node, and boots it again when the node asks for
# a reboot (systemctl reboot / rpm-ostree rollback -r write /var/lib/lab-power/reboot, then end pid 1).
# Usage: supervise.sh SSHD_CONFIG SNO_DIR   (SSHD_CONFIG is only here so `lab down` recognises us)
set -eu
SNO=$2
HERE=$(dirname "$0")
mkdir -p "$SNO/recovery-partition"
mountpoint -q "$SNO/recovery-partition" || mount -t tmpfs -o size="$(cat "$SNO/recovery-size")",mode=0700 recovery "$SNO/recovery-partition"
# The node's /var is its stateroot's var; a reboot request is a file there.
reboot_requested() { for f in "$SNO"/sysroot/ostree/deploy/*/var/lib/lab-power/reboot; do [ -e "$f" ] && return 0; done; return 1; }
child=
# SIGKILL: unshare outlives a SIGTERM; its death takes the node's pid namespace (init and all) with it.
trap '[ -n "$child" ] && kill -KILL "$child" 2>/dev/null; exit 0' TERM INT
while :; do
  rm -f "$SNO"/sysroot/ostree/deploy/*/var/lib/lab-power/reboot
  unshare --uts --mount --pid --fork --kill-child --propagation private sh "$HERE/boot.sh" "$1" "$SNO" &
  child=$!
  wait "$child" || true
  child=
  reboot_requested || exit 0
  echo "sno-node: rebooting $(date -u +%FT%TZ)"
done
