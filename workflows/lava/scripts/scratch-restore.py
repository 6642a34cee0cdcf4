#!/usr/bin/env python3
# Restores a custom-format pg_dump into a throwaway PostgreSQL cluster started for this purpose alone
# (initdb in a temp dir, Unix socket only, no TCP listener, fsync off), never the live server, with
# pg_restore (no psql meta-command in a dump ever runs). The dump's owner role is created first so the
# restore stops at the first error as a real restore does. Prints row counts of the tables asked for, or a
# redacted summary of the failure (a finding, exit 0): an error's DETAIL and CONTEXT lines quote the row
# (password hashes, tokens), so only the first ERROR line is kept, with every quoted value replaced by "…",
# plus the COPY target without the row. The cluster is removed whatever happens.
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
def redacted(stderr, code):
    errors = [l for l in stderr.splitlines() if 'ERROR:' in l]
    first = errors[0][errors[0].index('ERROR:'):] if errors else 'pg_restore exit %d' % code
    first = re.sub(r"'[^']*'", "'…'", re.sub(r'"[^"]*"', '"…"', first))
    copy = re.search(r'CONTEXT:\s+COPY (\w+), line (\d+)', stderr)
    where = ' (COPY %s, line %s)' % copy.groups() if copy else ''
    return (first[:300] + where + ('; %d errors' % len(errors) if len(errors) > 1 else ''))
try:
    run(bindir + '/initdb', '-D', d + '/data', '-A', 'trust', '-U', 'scratch', '--no-sync', '-E', 'UTF8')
    run(bindir + '/pg_ctl', '-D', d + '/data', '-l', d + '/log', '-w', '-o', "-c listen_addresses='' -k %s -c fsync=off -c full_page_writes=off" % d, 'start')
    psql = ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', d, '-U', 'scratch']
    run(*psql, '-d', 'postgres', '-c', 'create role "%s"' % owner.replace('"', ''))
    run(*psql, '-d', 'postgres', '-c', 'create database restore_test owner "%s"' % owner.replace('"', ''))
    restore = ['pg_restore', '--exit-on-error', '-h', d, '-U', 'scratch', '-d', 'restore_test']
    # Parallel only from a file (pg_restore cannot seek in a pipe); no file: pg_restore reads stdin.
    if dump != '-': restore += ['--jobs', str(min(os.cpu_count() or 1, 4)), dump]
    r = subprocess.run(restore, capture_output=True, text=True, stdin=None if dump == '-' else subprocess.DEVNULL)
    if r.returncode != 0:
        out['error'] = redacted(r.stderr, r.returncode)
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
