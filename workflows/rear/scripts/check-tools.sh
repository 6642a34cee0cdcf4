#!/bin/sh
# rearBackup: the node's package family ("family debian|rhel|unknown", from /etc/os-release), its installer
# ("installer apt-get|dnf|yum"), whether SELinux enforces ("selinux enforcing|permissive|disabled"),
# the firmware ("firmware efi|bios"), then
# each of the given packages that is not installed, one a line. Args: DEBIAN_PACKAGES -- RHEL_PACKAGES.
# shellcheck disable=SC1091,SC2153
id_like=$( . /etc/os-release 2>/dev/null; echo "$ID $ID_LIKE")
case " $id_like " in
  *" debian "*|*" ubuntu "*) family=debian ;;
  *" rhel "*|*" fedora "*|*" centos "*) family=rhel ;;
  *) family=unknown ;;
esac
echo "family $family"
if command -v dnf > /dev/null; then installer=dnf; elif command -v yum > /dev/null; then installer=yum; else installer=apt-get; fi
[ "$family" = debian ] && installer=apt-get
echo "installer $installer"
# UEFI or BIOS: ReaR's unattended ISO mode exists for BIOS (ISOLINUX) only.
if [ -d /sys/firmware/efi ]; then echo "firmware efi"; else echo "firmware bios"; fi
if command -v getenforce > /dev/null; then echo "selinux $(getenforce | tr '[:upper:]' '[:lower:]')"; else echo "selinux disabled"; fi
debian=
rhel=
for p in "$@"; do
  if [ "$p" = -- ]; then rhel=1; continue; fi
  if [ -z "$rhel" ]; then debian="$debian $p"; continue; fi
  [ "$family" = rhel ] && { rpm -q "$p" > /dev/null 2>&1 || echo "$p"; }
done
if [ "$family" != rhel ]; then
  for p in $debian; do
    dpkg-query -W -f "\${Status}\n" "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
fi
