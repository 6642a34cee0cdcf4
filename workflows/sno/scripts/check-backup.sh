#!/bin/sh
# Before a recovery: the backup in $1 has its four parts and matches its manifest; lists cluster/.
cd "$1" && for d in cluster etc local kubelet; do [ -d "$d" ] || { echo "$1/$d is missing: not a complete backup" >&2; exit 1; }; done && sha256sum --quiet -c manifest.sha256 && ls cluster
