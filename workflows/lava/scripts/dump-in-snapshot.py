#!/usr/bin/env python3
# The database dump and its row counts from one snapshot: a REPEATABLE READ transaction counts the main
# tables and exports its snapshot, held open while pg_dump dumps that very snapshot in PostgreSQL's custom
# format (restored with pg_restore, which runs no psql meta-commands). On a busy master the counts then
# always agree with the dump. The dump goes to stdout; the counts are the last stderr line,
# "runbooks-rows {json}". Runs as the database owner (libpq reads the password from its .pgpass).
# Compression "default" is pg_dump's (zlib); "none" (-Z0) trades a larger bundle for a faster restore:
# pg_restore inflates each table's data in one process, which bounds the restore of a large table.
# Arguments: host, port, database, compression (default|none), then the tables to count.
import json, re, subprocess, sys
import psycopg2  # lava-server's own database driver: on every master
host, port, name, compression, tables = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
if compression not in ('default', 'none'): sys.exit('compression must be default or none')
if not all(re.fullmatch(r'[a-z_][a-z0-9_]*', t) for t in tables): sys.exit('unexpected table name')
conn = psycopg2.connect(host=host or None, port=port, dbname=name)
conn.set_session(isolation_level='REPEATABLE READ', readonly=True)
cur = conn.cursor()
cur.execute('select pg_export_snapshot()')
snapshot = cur.fetchone()[0]
rows = {}
for t in tables:
    cur.execute('select count(*) from %s' % t)
    rows[t] = cur.fetchone()[0]
level = ['-Z0'] if compression == 'none' else []
dump = subprocess.run(['pg_dump', '-Fc', *level, '--snapshot', snapshot, '-h', host, '-p', port, '--no-password', name], stdin=subprocess.DEVNULL)
conn.rollback()
conn.close()
if dump.returncode != 0: sys.exit(dump.returncode)
print('runbooks-rows ' + json.dumps(rows, separators=(',', ':')), file=sys.stderr)
