#!/bin/sh
# Undeploys ostree deployments by identity (<checksum>.<serial>), not by index: an index shifts after every
# undeploy, so a retried or resumed step working from indexes read earlier could remove the wrong one. The
# index is looked up in `ostree admin status` right before each undeploy; one already gone is skipped, so
# the step is safe to run again. Stops at the first undeploy that fails.
set -eu
for id in "$@"; do
  i=$(ostree admin status | awk -v id="$id" '/^(\* |  )[^ ]/ { n++; for (f = 1; f <= NF; f++) if ($f == id) print n - 1 }')
  if [ -z "$i" ]; then echo "$id: already gone"; continue; fi
  ostree admin undeploy "$i"
done
