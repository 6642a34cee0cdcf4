#!/bin/sh
# "package<TAB>version" of each installed package asked for and of every postgresql* package.
# Arguments: dpkg-query's format (an argument, so no shell expands its ${...}), then the packages.
f=$1
shift
dpkg-query -W -f "$f" "$@" "postgresql*" 2>/dev/null | grep -P "\tinstalled$" | cut -f1,2
