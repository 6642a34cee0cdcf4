#!/bin/sh
# "package<TAB>version" of each installed package asked for, then the Debian version: what a worker
# restore reinstalls. Arguments: dpkg-query's format, then the packages.
f=$1
shift
dpkg-query -W -f "$f" "$@" 2>/dev/null | grep -P "\tinstalled$" | cut -f1,2
printf 'debian_version\t%s\n' "$(cat /etc/debian_version)"
