#!/bin/sh
# rearBackup before mkbackup, rearControllerRecovery after the first boot from disk: what makes this
# machine itself. "hostname H", "machine-id M", "boot-id B", one "host-key TYPE BASE64" per sshd public
# host key, then "file SHA256 PATH" (or "missing PATH") for each file given. Args: FILE...
echo "hostname $(uname -n)"
echo "machine-id $(cat /etc/machine-id 2>/dev/null)"
echo "boot-id $(cat /proc/sys/kernel/random/boot_id)"
for k in /etc/ssh/ssh_host_*_key.pub; do
  [ -s "$k" ] && awk '{ print "host-key " $1 " " $2 }' "$k"
done
for f in "$@"; do
  if [ -f "$f" ]; then
    echo "file $(sha256sum < "$f" | cut -d" " -f1) $f"
  else
    echo "missing $f"
  fi
done
