#!/bin/sh
# Stage 1 of upgrade-recovery.sh begins with `setenforce 0`: the rsync of /etc would otherwise be denied
# relabelling on an enforcing node. A node without SELinux (or with it disabled) has nothing to do.
set -eu
if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce)" = Enforcing ]; then
  setenforce 0
  echo "SELinux set to permissive for the restore"
else
  echo "SELinux not enforcing: nothing to do"
fi
