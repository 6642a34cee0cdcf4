#!/bin/sh
# rearControllerRecovery, on the hypervisor: a key for the store made for this recovery only. Its private
# half goes onto a small ISO labelled RBKEY that the rescue definition attaches as a second cdrom (the
# rescue image itself holds no store key); only the public half is printed, so history never sees the
# private one. A retry makes a new key and a new ISO: the key printed is always the one on the ISO.
# Args: ISO_PATH COMMENT.
set -eu
iso=$1
comment=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -m 0700 "$tmp/key"
ssh-keygen -q -t ed25519 -N "" -C "$comment" -f "$tmp/key/id_ed25519"
umask 077
if command -v xorriso >/dev/null 2>&1; then
  xorriso -as mkisofs -quiet -r -V RBKEY -o "$iso.partial" "$tmp/key" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
elif command -v genisoimage >/dev/null 2>&1; then
  genisoimage -quiet -r -V RBKEY -o "$iso.partial" "$tmp/key"
else
  echo "neither xorriso nor genisoimage on this hypervisor: no drive for the recovery key" >&2
  exit 1
fi
mv -f -- "$iso.partial" "$iso"
cut -d" " -f1,2 "$tmp/key/id_ed25519.pub"
