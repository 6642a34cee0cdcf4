#!/bin/sh
# rearBackup: prints each of the given Debian packages that is not installed, one a line (none: all there).
for p in "$@"; do
  dpkg-query -W -f "\${Status}\n" "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
done
