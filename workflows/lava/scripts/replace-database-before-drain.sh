#!/bin/sh
# Replaces the LAVA database with the bundle's dump, once: refuses while sessions are open; keeps the
# original encoding and collation (postinst's UTF8 / C.UTF-8 when there is no database); restores the
# custom-format dump with pg_restore (it sends SQL to the server and never runs psql meta-commands such as
# \!, which `psql -f` of a plain dump would run as postgres), in parallel, stopping at the first error; records row counts in a state file so that running it again after a crash of the host
# reports the restore instead of dropping the restored database a second time.
# Arguments: the run's restore directory (holding lava-server.dump), port, database, owner, then the tables to count.
set -eu
dir=$1 port=$2 name=$3 owner=$4
shift 4
state="$dir/database-restored"
pg() { runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p "$port" "$@"; }
counts() { for t in "$@"; do printf '%s|%s\n' "$t" "$(pg -d "$name" -c "select count(*) from $t")"; done; }
if [ -f "$state" ]; then
  echo "already restored by this run"
  cat "$state"
  exit 0
fi
sessions=$(pg -d postgres -c "select count(*) from pg_stat_activity where datname = '$name'")
[ "$sessions" = 0 ] || { echo "$sessions open sessions on $name: stop every LAVA service first" >&2; exit 3; }
enc=UTF8 coll=C.UTF-8 ctype=C.UTF-8
row=$(pg -d postgres -F ' ' -c "select pg_encoding_to_char(encoding), datcollate, datctype from pg_database where datname = '$name'")
if [ -n "$row" ]; then
  enc=$(echo "$row" | cut -d' ' -f1) coll=$(echo "$row" | cut -d' ' -f2) ctype=$(echo "$row" | cut -d' ' -f3)
fi
pg -d postgres -c "drop database if exists \"$name\""
pg -d postgres -c "create database \"$name\" owner \"$owner\" encoding '$enc' lc_collate '$coll' lc_ctype '$ctype' template template0"
# pg_restore runs as postgres and opens the dump by name (each parallel job reopens it): postgres may pass
# through the root-only run directory (no listing) and read that one file.
chmod 0711 "$(dirname "$dir")" "$dir"
chown postgres "$dir/lava-server.dump"
jobs=$(nproc 2>/dev/null || echo 1)
[ "$jobs" -le 4 ] || jobs=4
if ! runuser -u postgres -- pg_restore --exit-on-error --jobs "$jobs" -p "$port" -d "$name" "$dir/lava-server.dump" > "$dir/restore.log" 2>&1; then
  # The first error only, without its DETAIL/CONTEXT lines (they can carry a row: password hashes, tokens).
  grep -m1 -o 'ERROR: .*' "$dir/restore.log" | sed -e "s/\"[^\"]*\"/\"…\"/g" -e "s/'[^']*'/'…'/g" | cut -c1-300 >&2 || echo "pg_restore failed" >&2
  exit 4
fi
echo "encoding $enc collate $coll ctype $ctype" > "$state.tmp"
counts "$@" >> "$state.tmp"
mv "$state.tmp" "$state"
cat "$state"
