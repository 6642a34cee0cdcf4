#!/bin/sh
# The exact .deb files of the installed LAVA packages, as a tar stream on stdout (into the bundle).
# Arguments: package=version, ...
d=$(mktemp -d) && cd "$d" && apt-get download -q "$@" >&2 && tar -cf - -- *.deb
rc=$?
rm -rf "$d"
exit $rc
