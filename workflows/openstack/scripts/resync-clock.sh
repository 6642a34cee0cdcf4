#!/bin/sh
# Steps a guest's clock after a snapshot froze it (CERN: "resync the VM clocks using the NTP daemon or
# running ntpdate after the snapshot"). chrony if present, else systemd-timesyncd; a guest with neither
# says so on stdout (the step's value) instead of failing a snapshot that is already made.
if command -v chronyc >/dev/null 2>&1; then
  chronyc -a makestep && echo "chronyc makestep: clock stepped"
  exit $?
fi
if systemctl cat systemd-timesyncd.service >/dev/null 2>&1; then
  systemctl restart systemd-timesyncd && echo "systemd-timesyncd restarted"
  exit $?
fi
echo "no NTP client (chronyc, systemd-timesyncd) on $(hostname): clock not resynced"
