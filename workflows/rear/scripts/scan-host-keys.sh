#!/bin/sh
# rearRecoveryDrill, on the hypervisor: the host keys sshd offers on the copy's SSH forward, once it answers
# (it may start after the login prompt). One "host-key TYPE BASE64" line per key; exits 5 when nothing
# answered within SECONDS. Args: ADDRESS PORT SECONDS
a=$1
p=$2
t=$3
i=0
while :; do
  keys=$(ssh-keyscan -T 5 -p "$p" "$a" 2>/dev/null)
  if [ -n "$keys" ]; then
    printf '%s\n' "$keys" | awk '$2 !~ /^#/ && NF >= 3 { print "host-key " $2 " " $3 }'
    exit 0
  fi
  [ "$i" -ge "$t" ] && { echo "no sshd answered on $a:$p within ${t}s"; exit 5; }
  sleep 2
  i=$((i + 2))
done
