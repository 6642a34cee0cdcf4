#!/bin/sh
# rearPrepareStore's one read of the store: everything its steps decide on, in sections that start with
# a marker line (@user, @groups, @group, @password, @dir, @keys, @login, @homes, @shells, @df).
# Args: USER PATH. Changes nothing.
user=$1
path=$2
echo @user
getent passwd "$user" || true
echo @groups
id -nG "$user" 2>/dev/null || true
echo @group
getent group "$user" || true
# The kind of password only, never the hash: "none" is "*" (no password works), "locked" starts with "!".
echo @password
case "$(getent shadow "$user" | cut -d: -f2)" in
  '*') echo none ;;
  '!'*) echo locked ;;
  '') echo empty ;;
  *) echo set ;;
esac
echo @dir
stat -c "%U:%G %a" "$path" 2>/dev/null || true
echo @keys
home=$(getent passwd "$user" | cut -d: -f6)
if [ -n "$home" ]; then cat "$home/.ssh/authorized_keys" 2>/dev/null || true; fi
# Who runs this (through sudo): the worker's own account, never to be taken over.
echo @login
echo "${SUDO_USER:-$(id -un)}"
echo @homes
getent passwd | cut -d: -f1,6
echo @shells
grep '^/' /etc/shells 2>/dev/null || true
# Free space where the directory is or will be: its nearest existing ancestor.
echo @df
d=$path
while [ ! -e "$d" ]; do d=$(dirname "$d"); done
df -B1 --output=avail "$d" | tail -n1
