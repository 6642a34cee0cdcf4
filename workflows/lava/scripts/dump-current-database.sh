#!/bin/sh
# Before a restore replaces the LAVA database: dumps it as it is now to stdout (custom format, streamed to
# the store), or says there is none (a damaged master may have lost it). A failed lookup is not "none":
# it ends this with an error, so the restore never drops a database it kept no copy of.
# Arguments: PostgreSQL port, database name.
port=$1 name=$2
if ! found=$(runuser -u postgres -- psql -X -At -v ON_ERROR_STOP=1 -p "$port" -d postgres -c "select count(*) from pg_database where datname = '$name'"); then
  echo "cannot tell whether database $name exists (the query failed): no pre-restore dump, refusing" >&2
  exit 3
fi
case $found in
  1) exec nice -n 10 runuser -u postgres -- pg_dump -Fc -p "$port" "$name" ;;
  0) echo "-- runbooks: database $name did not exist before the restore" ;;
  *) echo "cannot tell whether database $name exists (the query said: $found): refusing" >&2; exit 3 ;;
esac
