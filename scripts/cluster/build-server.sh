#!/usr/bin/env bash
# Builds the real Temporal server (cmd/server) and its schema tool (temporal-sql-tool) from the Go module
# proxy at a pinned version, for the cluster bench only (`npm run bench -- cluster`): setup.sh and CI do
# not run this. About 9 minutes niced on the 2-CPU machine the first time (see bench/CLUSTER-NOTES.md); a
# second run finds both binaries and does nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
# v1.32.1: the dev server of CLI 1.9.1 is server 1.32.0; this is the newest 1.32 patch whose go.mod asks
# for no newer Go than the machine's 1.26.8 (v1.32.2 wants 1.26.10).
TEMPORAL_SERVER_VERSION=${TEMPORAL_SERVER_VERSION:-1.32.1}
OUT=$PWD/.data/cluster/bin
SERVER=$OUT/temporal-server-$TEMPORAL_SERVER_VERSION
SQL_TOOL=$OUT/temporal-sql-tool-$TEMPORAL_SERVER_VERSION
SCHEMA=$PWD/.data/cluster/schema-$TEMPORAL_SERVER_VERSION
if [ -x "$SERVER" ] && [ -x "$SQL_TOOL" ] && [ -d "$SCHEMA/postgresql/v12" ]; then exit 0; fi
export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || { echo "build-server: go is missing (Go >= 1.26.8 needed)" >&2; exit 1; }

# A throwaway module that requires only the server, so the build list is the server's own go.mod.
MOD=$PWD/.data/cluster/build
mkdir -p "$MOD" "$OUT"
cat > "$MOD/go.mod" <<MOD
module runbooks.local/cluster-build

go 1.26.8

require go.temporal.io/server v$TEMPORAL_SERVER_VERSION
MOD
cd "$MOD"
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
start=$(date +%s)
# Niced: the machine's two CPUs are shared with long tests (a QEMU guest among them).
nice -n 19 go build -trimpath -o "$SERVER.tmp" go.temporal.io/server/cmd/server
nice -n 19 go build -trimpath -o "$SQL_TOOL.tmp" go.temporal.io/server/cmd/tools/sql
mv "$SERVER.tmp" "$SERVER"; mv "$SQL_TOOL.tmp" "$SQL_TOOL"
# temporal-sql-tool's update-schema reads the versioned SQL files from a directory: the module's own.
rm -rf "$SCHEMA"; mkdir -p "$SCHEMA"
cp -r "$(go list -m -f '{{.Dir}}' go.temporal.io/server)/schema/postgresql" "$SCHEMA/"; chmod -R u+w "$SCHEMA"
echo "build-server: temporal-server and temporal-sql-tool $TEMPORAL_SERVER_VERSION built in $(( $(date +%s) - start )) s" >&2
