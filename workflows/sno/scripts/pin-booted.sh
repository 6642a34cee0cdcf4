#!/bin/sh
# Pins the booted deployment, found in `ostree admin status` at run time: `ostree admin pin 0` would pin a
# staged deployment, which ostree refuses.
set -eu
i=$(ostree admin status | awk '/^(\* |  )[^ ]/ { n++; if ($1 == "*") print n - 1 }')
[ -n "$i" ] || { echo "no booted deployment" >&2; exit 1; }
ostree admin pin "$i"
