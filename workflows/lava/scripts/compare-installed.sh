#!/bin/sh
# "newer|equal|older <installed>" of an installed package against a bundle's version, in dpkg's order;
# "missing -" when it is not installed. Arguments: package, the bundle's version, dpkg-query's format.
v=$(dpkg-query -W -f "$3" "$1" 2>/dev/null) || { echo "missing -"; exit 0; }
if dpkg --compare-versions "$v" gt "$2"; then
  echo "newer $v"
elif dpkg --compare-versions "$v" eq "$2"; then
  echo "equal $v"
else
  echo "older $v"
fi
