#!/bin/sh
# rearBackup, on the store: lets a node's root key in as the backup user ("restrict": no pty, no
# forwarding; sftp still works), once, and makes the node's directory. Args: USER KEY COMMENT NODE_DIR.
set -e
user=$1
key=$2
comment=$3
dir=$4
home=$(getent passwd "$user" | cut -d: -f6)
[ -n "$home" ] || { echo "no user $user on the store: run rearPrepareStore first" >&2; exit 1; }
install -d -o "$user" -g "$user" -m 0700 "$home/.ssh"
grep -qF " $key" "$home/.ssh/authorized_keys" 2>/dev/null || printf "restrict %s %s\n" "$key" "$comment" >> "$home/.ssh/authorized_keys"
chown "$user:$user" "$home/.ssh/authorized_keys"
chmod 0600 "$home/.ssh/authorized_keys"
install -d -o "$user" -g "$user" -m 0750 "$dir"
