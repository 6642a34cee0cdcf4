#!/bin/sh
# rearPrepareStore: installs the controllers' public keys (stdin) as USER's authorized_keys, 0600 in a
# 0700 ~/.ssh, both owned by USER. Args: USER.
set -e
user=$1
home=$(getent passwd "$user" | cut -d: -f6)
install -d -o "$user" -g "$user" -m 0700 "$home/.ssh"
install -o "$user" -g "$user" -m 0600 /dev/stdin "$home/.ssh/authorized_keys"
