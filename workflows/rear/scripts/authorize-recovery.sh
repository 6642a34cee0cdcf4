#!/bin/sh
# rearControllerRecovery, on the store: lets this recovery's key in as the backup user, after gate
# boot-rescue, for this run only: "restrict" (no pty, no forwarding; sftp/sshfs still work) and an
# expiry sshd enforces even if nothing ever removes the line. The comment names the run, so a retry adds
# no second line and revoke-recovery.sh finds it. Args: USER KEY COMMENT EXPIRY (YYYYMMDDHHMMZ).
set -e
user=$1
key=$2
comment=$3
expiry=$4
home=$(getent passwd "$user" | cut -d: -f6)
[ -n "$home" ] || { echo "no user $user on the store: run rearPrepareStore first" >&2; exit 1; }
install -d -o "$user" -g "$user" -m 0700 "$home/.ssh"
keys=$home/.ssh/authorized_keys
touch "$keys"
# One line per run: an earlier key of this run (a retried key step) is replaced, not kept beside it.
awk -v c="$comment" '$NF != c' "$keys" > "$keys.new"
printf 'restrict,expiry-time="%s" %s %s\n' "$expiry" "$key" "$comment" >> "$keys.new"
chown "$user:$user" "$keys.new"
chmod 0600 "$keys.new"
mv -f "$keys.new" "$keys"
grep -c " $comment\$" "$keys"
