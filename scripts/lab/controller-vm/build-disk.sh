#!/bin/bash
# The lab's real controller: a Debian 12 disk image built offline from the Debian packages this machine's
# apt reaches (debootstrap: kernel, GRUB, sshd, ReaR), no root mount or loop partitions needed: the root
# filesystem is made from a directory (mke2fs -d) and written into an MBR-partitioned raw disk at 1 MiB.
# GRUB goes onto the disk at the first boot (direct kernel boot with a small init that runs grub-install
# /dev/vda and powers off): from then on the firmware boots the disk like any machine's, which is what
# ReaR's layout and bootloader detection read and what `rear recover` restores.
# Args: WORK OUT.qcow2 HOST_KEY(private, ed25519) AUTHORIZED_KEYS MIRROR
set -euo pipefail
work=$1 out=$2 hostkey=$3 authorized=$4 mirror=${5:-http://deb.debian.org/debian}
root=$work/rootfs
mkdir -p "$work"
if [ ! -e "$root/.debootstrap-done" ]; then
  rm -rf "$root.partial"
  debootstrap --variant=minbase \
    --include=linux-image-amd64,grub-pc,less,openssh-server,rear,cpio,file,xorriso,isolinux,syslinux-common,lftp,sshfs,kmod,isc-dhcp-client,ifupdown,iproute2,systemd-sysv,udev,e2fsprogs,parted,fdisk,procps,ca-certificates \
    bookworm "$root.partial" "$mirror" > "$work/debootstrap.log" 2>&1
  touch "$root.partial/.debootstrap-done"
  mv "$root.partial" "$root"
fi

# The login account a controller is provisioned with (heat-admin on TripleO; rbops as everywhere in the lab):
# key login and passwordless sudo, as the worker expects of every host.
# less: ReaR's REQUIRED_PROGS has it, and minbase does not.
if [ ! -x "$root/usr/bin/sudo" ] || [ ! -x "$root/usr/bin/less" ]; then
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sudo file less && apt-get clean' > "$work/sudo.log" 2>&1
fi
chroot "$root" sh -c 'id rbops > /dev/null 2>&1 || useradd --create-home --shell /bin/sh rbops'
printf 'rbops ALL=(ALL) NOPASSWD: ALL\n' > "$root/etc/sudoers.d/rbops"
chmod 0440 "$root/etc/sudoers.d/rbops"
install -d -m 0700 "$root/home/rbops/.ssh"
install -m 0600 "$authorized" "$root/home/rbops/.ssh/authorized_keys"
chroot "$root" chown -R rbops:rbops /home/rbops/.ssh

# The machine's identity and ways in (all of it what a provisioned controller would have).
echo controller-0 > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 controller-0\n' > "$root/etc/hosts"
printf 'LABEL=root / ext4 errors=remount-ro 0 1\n' > "$root/etc/fstab"
printf 'auto lo\niface lo inet loopback\nauto eth0\niface eth0 inet dhcp\n' > "$root/etc/network/interfaces"
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$authorized" "$root/root/.ssh/authorized_keys"
rm -f "$root"/etc/ssh/ssh_host_*
install -m 0600 "$hostkey" "$root/etc/ssh/ssh_host_ed25519_key"
ssh-keygen -y -f "$hostkey" > "$root/etc/ssh/ssh_host_ed25519_key.pub"
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' > "$root/etc/ssh/sshd_config.d/lab.conf"
sed -i 's/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="console=ttyS0,115200 net.ifnames=0"/; s/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/' "$root/etc/default/grub"
printf 'GRUB_TERMINAL=serial\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\n' >> "$root/etc/default/grub"
# No machine-id of its own yet: systemd makes one at the first boot (the recovered machine must keep it).
: > "$root/etc/machine-id"
# The first boot's init (not systemd): GRUB onto the disk from inside the machine, then power off.
cat > "$root/usr/local/sbin/lab-first-boot" <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -o remount,rw /
grub-install --target=i386-pc /dev/vda && update-grub && echo LAB-GRUB-INSTALLED > /dev/console
sync
echo o > /proc/sysrq-trigger
# init must not exit before the power-off happens (the kernel panics when init exits).
sleep 60
INIT
chmod 0755 "$root/usr/local/sbin/lab-first-boot"
rm -f "$root/usr/sbin/policy-rc.d"

# Root filesystem from the directory, then the partitioned disk around it.
rm -f "$work/root.ext4" "$work/disk.raw"
# The downloaded packages are not part of the machine: a smaller backup, a faster recovery.
rm -f "$root"/var/cache/apt/archives/*.deb
mke2fs -q -t ext4 -L root -d "$root" "$work/root.ext4" 3584M
truncate -s 4G "$work/disk.raw"
printf 'label: dos\nstart=2048, size=%s, type=83, bootable\n' $((3584 * 2048)) | sfdisk -q "$work/disk.raw"
dd if="$work/root.ext4" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$work/root.ext4"
qemu-img convert -O qcow2 "$work/disk.raw" "$out.partial"
rm -f "$work/disk.raw"
cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/initrd.img"

# First boot: the kernel from the image, given directly; GRUB installed from inside; it powers itself off.
timeout 900 qemu-system-x86_64 -machine q35 -accel tcg -m 1024 -smp 1 -nographic -no-reboot \
  -drive "file=$out.partial,if=virtio,format=qcow2" -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
  -append "root=LABEL=root rw console=ttyS0,115200 init=/usr/local/sbin/lab-first-boot" -nic none > "$work/first-boot.log" 2>&1 < /dev/null
grep -q LAB-GRUB-INSTALLED "$work/first-boot.log" || { tail -n 30 "$work/first-boot.log" >&2; exit 1; }
mv "$out.partial" "$out"
