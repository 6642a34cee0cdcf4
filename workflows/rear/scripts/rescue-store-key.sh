# shellcheck shell=bash
# rearBackup writes this into /etc/rear/local.conf (ReaR sources it with bash, in the rescue system too);
# PRE_RECOVERY_COMMANDS calls it before `rear recover` mounts BACKUP_URL. The rescue image holds no key for
# the store: rearControllerRecovery attaches this recovery's key on a drive labelled RBKEY, authorized on
# the store for that run only. Without the drive it says so and ReaR's mount fails with its own error.
runbooks_recovery_key() {
  local dev mnt=/tmp/runbooks-recovery-key
  dev=$(blkid -L RBKEY 2>/dev/null) || dev=/dev/disk/by-label/RBKEY
  if [ ! -b "$dev" ]; then
    echo "runbooks: no drive labelled RBKEY: the store accepts no key of this rescue system" >&2
    return 0
  fi
  mkdir -p "$mnt" && mount -t iso9660 -o ro "$dev" "$mnt" || return 1
  # No install(1) in ReaR's rescue system: mkdir, cp and chmod only.
  mkdir -p /root/.ssh && chmod 0700 /root/.ssh
  cp "$mnt/id_ed25519" /root/.ssh/id_ed25519 && chmod 0600 /root/.ssh/id_ed25519
  local copied=$?
  umount "$mnt"
  [ "$copied" = 0 ] || { echo "runbooks: could not copy the store key from $dev" >&2; return 1; }
  # LogPrint (ReaR's): on the console too, so whoever watches the recovery sees where the key came from.
  if type LogPrint >/dev/null 2>&1; then LogPrint "runbooks: the store key of this recovery read from $dev"; else echo "runbooks: the store key of this recovery read from $dev"; fi
}
