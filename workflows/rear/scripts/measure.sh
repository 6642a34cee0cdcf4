#!/bin/sh
# rearBackup, on the store after the upload: "<file> <bytes> <sha256>" for each file in DIR, or
# "missing <file>" when it is absent or empty; then "check <file> <verdict>" lines: the archive must list
# with `tar -tzf` to its end (a truncated gzip does not), the ISO must carry an El Torito boot record
# (ISO 9660 sector 17), or it cannot boot. Args: DIR FILE...
cd "$1" || exit 1
shift
for f in "$@"; do
  if [ -s "$f" ]; then
    echo "$f $(stat -c %s "$f") $(sha256sum < "$f" | cut -d" " -f1)"
  else
    echo "missing $f"
  fi
done
for f in "$@"; do
  [ -s "$f" ] || continue
  case "$f" in
    *.tar.gz)
      if tar -tzf "$f" > /dev/null 2>&1; then echo "check $f ok"; else echo "check $f tar-fails"; fi ;;
    *.iso)
      if dd if="$f" bs=2048 skip=17 count=1 2>/dev/null | head -c 30 | grep -aq 'CD001.EL TORITO SPECIFICATION'; then
        echo "check $f ok"
      else
        echo "check $f no-el-torito"
      fi ;;
  esac
done
