#!/bin/sh
# rearControllerRecovery, on the store: this run's recovery key off the backup user's authorized_keys
# (the lines whose comment is this run's), whatever else is there. Prints how many lines it removed.
# Args: USER COMMENT.
set -e
user=$1
comment=$2
home=$(getent passwd "$user" | cut -d: -f6)
keys=$home/.ssh/authorized_keys
if [ -z "$home" ] || [ ! -f "$keys" ]; then echo 0; exit 0; fi
before=$(wc -l < "$keys")
awk -v c="$comment" '$NF != c' "$keys" > "$keys.new"
chown "$user:$user" "$keys.new"
chmod 0600 "$keys.new"
mv -f "$keys.new" "$keys"
echo $((before - $(wc -l < "$keys")))
