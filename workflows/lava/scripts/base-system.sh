#!/bin/sh
# The base system a bundle was taken on: the Debian version and the APT sources (backports matter).
echo "debian_version $(cat /etc/debian_version)"
cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v "^#" | grep .
