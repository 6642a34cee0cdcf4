#!/bin/sh
# rearPrepareStore's check: the effective sshd settings for USER, from the sshd that serves this host (the
# listener in this UTS namespace names its config with -f; else the system's). Prints its Subsystem and
# ForceCommand lines: sftp must run inside sshd (internal-sftp), as a nologin user has no shell to start it.
user=$1
me=$(readlink /proc/self/ns/uts)
cfg=/etc/ssh/sshd_config
for p in $(pgrep -x sshd); do
  [ "$(readlink "/proc/$p/ns/uts")" = "$me" ] || continue
  t=$(tr "\0" " " < "/proc/$p/cmdline")
  case "$t" in
    *listener*)
      c=$(printf "%s\n" "$t" | sed -n "s/.* -f \([^ ]*\).*/\1/p")
      [ -n "$c" ] && cfg=$c
      break
      ;;
  esac
done
sshd -T -f "$cfg" -C "user=$user,host=rear-store-check,addr=127.0.0.1" | grep -Ei "^(subsystem|forcecommand) " || true
