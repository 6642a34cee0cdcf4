#!/bin/sh
# Before a restore replaces the LAVA database: dumps it as it is now to stdout (streamed to the store), or
# says there is none (a damaged master may have lost it). The restore never proceeds without this copy.
# Arguments: PostgreSQL port, database name.
port=$1 name=$2
if [ "$(runuser -u postgres -- psql -X -At -p "$port" -d postgres -c "select count(*) from pg_database where datname = '$name'")" = 1 ]; then
  exec nice -n 10 runuser -u postgres -- pg_dump -p "$port" "$name"
fi
echo "-- runbooks: database $name did not exist before the restore"
