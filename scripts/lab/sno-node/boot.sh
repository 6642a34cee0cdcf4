#!/bin/sh
# One boot of the lab sno-node, as pid 1 of fresh UTS + mount + pid namespaces: pick the default
# deployment the way the bootloader would (the first one of the current boot config), mount it as an
# ostree-booted system would be (/sysroot, /boot, /var, /usr/local -> /var/usrlocal, /run/ostree-booted,
# a new boot id), start the enabled lab services and then sshd, all chrooted into that deployment, so
# `ostree admin status` on the node shows the booted (*) and rollback markers for real.
# Usage: boot.sh SSHD_CONFIG SNO_DIR
set -eu
SNO=$2
SYSROOT=$SNO/sysroot
hostname sno-node
first=$(ostree admin status --sysroot="$SYSROOT" | awk 'NR==1 { if ($1 == "*") print $2 "/" $3; else print $1 "/" $2 }')
D=$SYSROOT/ostree/deploy/${first%%/*}/deploy/${first#*/}
[ -d "$D" ] || { echo "sno-node: no deployment to boot ($first)" >&2; exit 1; }
VAR=$SYSROOT/ostree/deploy/${first%%/*}/var
mount --bind /usr "$D/usr"
mount --bind "$VAR" "$D/var"
mkdir -p "$D/var/usrlocal" "$D/var/recovery"
mount --bind "$D/var/usrlocal" "$D/usr/local"
mount --bind "$SNO/recovery-partition" "$D/var/recovery"
mount --bind "$SYSROOT" "$D/sysroot"
mount --bind "$SYSROOT/boot" "$D/boot"
mount -t tmpfs -o mode=0755 run "$D/run"
mount -t tmpfs -o mode=1777 tmp "$D/tmp"
mount -t proc proc "$D/proc"
mount --bind /dev "$D/dev"
touch "$D/run/ostree-booted"
cat /proc/sys/kernel/random/uuid > "$D/run/lab-boot-id"
mount --bind "$D/run/lab-boot-id" "$D/proc/sys/kernel/random/boot_id"
mkdir -p "$D/run/sshd" "$D/run/lab"
cp "$SNO/sshd_config" "$SNO/ssh_host_ed25519_key" "$SNO/authorized_keys" "$D/run/lab/"
chmod 600 "$D/run/lab/ssh_host_ed25519_key"
cp "$SNO/etc-hosts" "$D/etc/hosts"
echo "sno-node: booted $first boot_id $(cat "$D/run/lab-boot-id")"
exec chroot "$D" /bin/sh -c '
  /usr/local/bin/systemctl lab-boot || echo "sno-node: lab-boot failed" >&2
  /usr/sbin/sshd -D -e -f /run/lab/sshd_config & sshd=$!
  trap "kill \$sshd; /usr/local/bin/systemctl lab-halt; exit 0" TERM
  while :; do wait; kill -0 $sshd 2>/dev/null || exit 1; done'
