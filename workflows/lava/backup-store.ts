// The commands backup runbooks run on the backup store host. A bundle is one directory per run:
//   <dir>/<UTC stamp>[-label].partial     while it is written (never counted as a backup)
//   <dir>/<UTC stamp>[-label]             sealed: manifest.json checked against what was streamed
//   <dir>/<UTC stamp>[-label].incomplete  a run that failed or was aborted; kept for inspection
// Scripts are constants; values reach them only as positional arguments.
import { remote, type RemoteCommand } from '../engine/commands.js';

/** Sealed bundle names: a UTC stamp and an optional label, nothing else (so *.partial never matches). */
export const SEALED_BUNDLE = /^[0-9]{8}T[0-9]{6}Z(-[a-z0-9-]+)?$/; // POSIX ERE too: grep -E uses it

/** A bundle's name stamp: the run's start in UTC, e.g. 20261122T020000Z (sorts by time, no ":" in paths). */
export function bundleStamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export function freeBytes(store: string, dir: string): RemoteCommand {
  return remote(store, ['sh', '-c', 'mkdir -p "$1" && df -PB1 "$1" | awk "NR==2 {print \\$4}"', 'df', dir]);
}

export function makePrivateDir(store: string, dir: string): RemoteCommand {
  return remote(store, ['sh', '-c', 'umask 077 && mkdir -p "$1" && chmod 700 "$1"', 'mkdir', dir]);
}

/** Receives a stream into a private file (0600) inside the unsealed bundle. */
export function receiveFile(store: string, path: string): RemoteCommand {
  return remote(store, ['sh', '-c', 'umask 077 && cat > "$1"', 'receive', path]);
}

// Writes manifest.json: every file with size and sha256, plus what the runbook measured; refuses when a
// streamed file on disk is not what was streamed. Then seals the bundle: 0600 files, 0700 dirs, final name.
const SEAL = `
import hashlib, json, os, sys
tmp, final, meta = sys.argv[1], sys.argv[2], json.load(sys.stdin)
if os.path.isdir(final) and not os.path.isdir(tmp):
    print(json.dumps({'bundle': final, 'files': len(json.load(open(os.path.join(final, 'manifest.json')))['files']) + 1}))
    sys.exit(0)
files = {}
for root, _, names in os.walk(tmp):
    for n in sorted(names):
        p = os.path.join(root, n); h = hashlib.sha256()
        with open(p, 'rb') as f:
            for b in iter(lambda: f.read(1 << 20), b''): h.update(b)
        files[os.path.relpath(p, tmp)] = {'size': os.path.getsize(p), 'sha256': h.hexdigest()}
files.pop('manifest.json', None)
for name, expect in meta.get('streamed', {}).items():
    if files.get(name, {}).get('sha256') != expect:
        sys.exit('%s on the store differs from what was streamed' % name)
meta['files'] = files
with open(os.path.join(tmp, 'manifest.json'), 'w') as f: json.dump(meta, f, indent=2, sort_keys=True)
for root, dirs, names in os.walk(tmp):
    for n in names: os.chmod(os.path.join(root, n), 0o600)
    for d in dirs: os.chmod(os.path.join(root, d), 0o700)
os.chmod(tmp, 0o700)
os.rename(tmp, final)
print(json.dumps({'bundle': final, 'files': len(files) + 1}))
`;

/** Seals `tmp` as `final`. Run twice (a crash after the rename), it reports the sealed bundle again. */
export function sealBundle(store: string, tmp: string, final: string, meta: unknown): RemoteCommand {
  return remote(store, ['python3', '-c', SEAL, tmp, final], { stdin: JSON.stringify(meta) });
}

/**
 * A run that did not finish leaves its bundle renamed to *.incomplete with the reason next to it: never
 * counted as a backup, never mistaken for one that is still being written, easy to inspect and delete.
 */
export function markIncomplete(store: string, tmp: string, reason: string): RemoteCommand {
  return remote(store, [
    'sh',
    '-c',
    'if [ -d "$1.partial" ]; then printf "%s\\n" "$2" > "$1.partial/INCOMPLETE" && mv -- "$1.partial" "$1.incomplete" && echo "marked $1.incomplete"; else echo "nothing to mark"; fi',
    'incomplete',
    tmp,
    reason,
  ]);
}

/** Keeps the newest `keep` sealed bundles; incomplete and stale partial ones older than a week go too. */
export function pruneBundles(store: string, dir: string, keep: number): RemoteCommand {
  return remote(store, [
    'sh',
    '-c',
    'cd "$1" && ls -1 | grep -E "$3" | sort -r | tail -n +"$(($2 + 1))" | while read -r b; do rm -rf -- "$b" && echo "removed $b"; done; ' +
      'find . -maxdepth 1 \\( -name "*.partial" -o -name "*.incomplete" \\) -mtime +6 -exec rm -rf -- {} + ; true',
    'prune',
    dir,
    String(keep),
    SEALED_BUNDLE.source,
  ]);
}

// Which bundle to verify: a path, or "latest" (the newest sealed bundle under the root, any host). Prints
// the bundle and its sealed siblings (same directory), newest first.
const FIND = `
import json, os, re, sys
root, want, sealed = sys.argv[1], sys.argv[2], re.compile(sys.argv[3])
host = sys.argv[4] if len(sys.argv) > 4 else ''
def bundles(d):
    return sorted((os.path.join(d, n) for n in os.listdir(d) if sealed.match(n) and os.path.isdir(os.path.join(d, n))), key=os.path.basename, reverse=True) if os.path.isdir(d) else []
if want == 'latest':
    hosts = [host] if host else (sorted(os.listdir(root)) if os.path.isdir(root) else [])
    every = [b for h in hosts for b in bundles(os.path.join(root, h))]
    if not every: sys.exit('no sealed bundle under %s' % os.path.join(root, host))
    bundle = max(every, key=os.path.basename)
else:
    bundle = os.path.normpath(os.path.join(root, host, want) if host and sealed.match(want) else want)
    if not os.path.isdir(bundle): sys.exit('no bundle %s on the store' % bundle)
print(json.dumps({'bundle': bundle, 'siblings': bundles(os.path.dirname(bundle))}))
`;

/** `bundle`: "latest", a bundle path, or (with `host`) a bare bundle name under root/host. */
export function findBundle(store: string, root: string, bundle: string, host?: string): RemoteCommand {
  return remote(store, ['python3', '-c', FIND, root, bundle, SEALED_BUNDLE.source, ...(host ? [host] : [])]);
}

// Every file of the manifest: present, same size, same sha256; and nothing on disk the manifest does not
// list. Prints the problems by file name (a finding, not an error: exit 0) and the manifest's summary.
const CHECK = `
import hashlib, json, os, sys
b = sys.argv[1]
out = {'bundle': b, 'problems': [], 'files': 0, 'manifest': {}}
try:
    m = json.load(open(os.path.join(b, 'manifest.json')))
    files = m['files']
except FileNotFoundError:
    out['problems'].append('manifest.json is missing'); print(json.dumps(out)); sys.exit(0)
except Exception as e:
    out['problems'].append('manifest.json is unreadable: %s' % e); print(json.dumps(out)); sys.exit(0)
out['files'] = len(files)
out['manifest'] = {k: m.get(k) for k in ('runbook', 'runbookVersion', 'createdAt', 'rows', 'database', 'encryption')}
for name, f in sorted(files.items()):
    p = os.path.join(b, name)
    if not os.path.isfile(p):
        out['problems'].append('%s is missing' % name); continue
    size = os.path.getsize(p)
    if size != f['size']:
        out['problems'].append('%s is %d bytes, the manifest says %d (truncated or grown)' % (name, size, f['size'])); continue
    h = hashlib.sha256()
    with open(p, 'rb') as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b''): h.update(chunk)
    if h.hexdigest() != f['sha256']:
        out['problems'].append('%s: sha256 %s… differs from the manifest %s… (corrupted)' % (name, h.hexdigest()[:12], f['sha256'][:12]))
on_disk = {os.path.relpath(os.path.join(r, n), b) for r, _, ns in os.walk(b) for n in ns} - {'manifest.json'}
for extra in sorted(on_disk - set(files)):
    out['problems'].append('%s is not in the manifest' % extra)
print(json.dumps(out))
`;

export function checkBundle(store: string, bundle: string): RemoteCommand {
  return remote(store, ['python3', '-c', CHECK, bundle]);
}

// The seed: every bundle must hold the same set of files as the one fully tested. Prints, per sibling
// that differs, the files it lacks and the files it has extra (at most 20 bundles, then a count).
const SAME_FILES = `
import json, os, re, sys
tested, others = sys.argv[1], sys.argv[2:]
# Names without ".age": a bundle encrypted at rest holds the same files as a plain one.
def names(b): return {re.sub(r'\\.age$', '', os.path.relpath(os.path.join(r, n), b)) for r, _, ns in os.walk(b) for n in ns}
want = names(tested)
diffs = []
for o in others:
    if o == tested: continue
    have = names(o)
    if have != want:
        diffs.append({'bundle': os.path.basename(o), 'missing': sorted(want - have), 'extra': sorted(have - want)})
print(json.dumps({'compared': len([o for o in others if o != tested]), 'differ': len(diffs), 'diffs': diffs[:20]}))
`;

export function compareFileSets(store: string, tested: string, siblings: string[]): RemoteCommand {
  return remote(store, ['python3', '-c', SAME_FILES, tested, ...siblings]);
}

// Restores a plain pg_dump into a throwaway PostgreSQL cluster started for this purpose alone (initdb in a
// temp dir, Unix socket only, no TCP listener, fsync off), never the live server. The dump's owner role is
// created first so the restore runs with ON_ERROR_STOP as on a real restore. Prints row counts of the
// tables asked for, or the restore's error (a finding, exit 0). The cluster is removed whatever happens.
// Dump "-" reads it from stdin: an encrypted bundle is decrypted on the worker and streamed in.
const SCRATCH_RESTORE = `
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
`;

export function scratchRestore(store: string, dump: string, owner: string, tables: string[]): RemoteCommand {
  return remote(store, ['nice', '-n', '10', 'python3', '-c', SCRATCH_RESTORE, dump, owner, ...tables.filter((t) => /^[a-z_][a-z0-9_]*$/.test(t))]);
}

// Selected fields of a bundle's manifest, compact (a command's output tail is 4 KB).
const READ_MANIFEST = `
import json, os, sys
m = json.load(open(os.path.join(sys.argv[1], 'manifest.json')))
print(json.dumps({k: m.get(k) for k in sys.argv[2:]}, separators=(',', ':')))
`;

export function readManifest(store: string, bundle: string, keys: string[]): RemoteCommand {
  return remote(store, ['python3', '-c', READ_MANIFEST, bundle, ...keys]);
}

/** Streams one bundle file out of the store (into a pipe). */
export function sendFile(store: string, path: string): RemoteCommand {
  return remote(store, ['cat', '--', path]);
}
