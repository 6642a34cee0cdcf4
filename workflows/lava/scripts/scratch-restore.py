#!/usr/bin/env python3
# Restores a plain pg_dump into a throwaway PostgreSQL cluster started for this purpose alone (initdb in a
# temp dir, Unix socket only, no TCP listener, fsync off), never the live server. The dump's owner role is
# created first so the restore runs with ON_ERROR_STOP as on a real restore. Prints row counts of the
# tables asked for, or the restore's error (a finding, exit 0). The cluster is removed whatever happens.
# Dump "-" reads it from stdin: an encrypted bundle is decrypted on the worker and streamed in.
# Arguments: the dump, its owner role, then the tables to count.
import glob, json, os, re, shutil, subprocess, sys, tempfile
dump, owner, tables = sys.argv[1], sys.argv[2], sys.argv[3:]
bins = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'), key=lambda p: int(p.split('/')[4]))
if not bins: sys.exit('no PostgreSQL server binaries on this host (postgresql-NN) for a scratch restore')
bindir = os.path.dirname(bins[-1])
d = tempfile.mkdtemp(prefix='runbooks-scratch-pg.')
out = {'server': os.path.basename(os.path.dirname(bindir)), 'restored': False}
# Only the restore itself may read stdin: with dump "-" the (decrypted) dump arrives there.
def run(*a): return subprocess.run(list(a), check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
try:
    run(bindir + '/initdb', '-D', d + '/data', '-A', 'trust', '-U', 'scratch', '--no-sync', '-E', 'UTF8')
    run(bindir + '/pg_ctl', '-D', d + '/data', '-l', d + '/log', '-w', '-o', "-c listen_addresses='' -k %s -c fsync=off -c full_page_writes=off" % d, 'start')
    psql = ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', d, '-U', 'scratch']
    run(*psql, '-d', 'postgres', '-c', 'create role "%s"' % owner.replace('"', ''))
    run(*psql, '-d', 'postgres', '-c', 'create database restore_test owner "%s"' % owner.replace('"', ''))
    r = subprocess.run(psql + ['-d', 'restore_test', '-f', dump], capture_output=True, text=True, stdin=None if dump == '-' else subprocess.DEVNULL)
    if r.returncode != 0:
        out['error'] = (r.stderr.strip().splitlines() or ['psql exit %d' % r.returncode])[-1][:500]
    else:
        out['restored'] = True
        rows = {}
        for t in tables:
            c = subprocess.run(psql + ['-At', '-d', 'restore_test', '-c', 'select count(*) from %s' % t], capture_output=True, text=True, stdin=subprocess.DEVNULL)
            rows[t] = int(c.stdout.strip()) if c.returncode == 0 else None
        out['rows'] = rows
finally:
    subprocess.run([bindir + '/pg_ctl', '-D', d + '/data', '-m', 'immediate', 'stop'], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)
print(json.dumps(out))
