#!/bin/sh
# After ser2net and udev files are put back: udev reads its rules again and ser2net restarts, where the
# host has them (a container or a lab host may have neither). Prints what it did.
if command -v udevadm > /dev/null && udevadm control --reload-rules 2> /dev/null; then
  udevadm trigger 2> /dev/null || true
  echo "udev rules reloaded"
else
  echo "no running udev: rules not reloaded"
fi
if [ -e /etc/ser2net.yaml ] || [ -e /etc/ser2net.conf ]; then
  if service ser2net restart > /dev/null 2>&1; then echo "ser2net restarted"; else echo "ser2net not restarted (not installed here)"; fi
fi
true
