#!/bin/sh
# Verifies the backup in $1 against its manifest, lists cluster/ (the etcd snapshot and the static pod
# resources are looked for in that list) and checks the three copied trees are there.
cd "$1" && sha256sum --quiet -c manifest.sha256 && ls cluster && for d in etc local kubelet; do [ -d "$d" ] || { echo "missing $d" >&2; exit 1; }; done
