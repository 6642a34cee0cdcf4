// The commands LAVA runbooks run on a master and on the backup store. Scripts are constants; values reach
// them only as positional arguments (quoted by the one quoting function in activities/).
import { remote, type RemoteCommand } from './commands.js';

export interface LavaDatabase {
  name: string;
  user: string;
  host: string;
  port: number;
}

/** Packages whose exact versions a restore needs (the seed: DB and package versions must match). */
export const LAVA_PACKAGES = [
  'lava-server',
  'lava-dispatcher',
  'lava-server-doc',
  'python3-django',
  'python3-django-tables2',
  'postgresql-common',
];

/** Configuration a master restore needs; optional ones that are absent are recorded as absent. */
export const LAVA_CONFIG_PATHS = [
  'etc/lava-server',
  'etc/lava-dispatcher/lava-worker',
  'etc/lava-coordinator/lava-coordinator.conf',
  'etc/ser2net.yaml',
  'etc/ser2net.conf',
  'etc/udev/rules.d',
  'etc/default/lxc',
  'etc/default/tftpd-hpa',
  'etc/default/ser2net',
  'etc/apache2/sites-available',
  'etc/apache2/sites-enabled',
];
export const LAVA_JOB_OUTPUT = 'var/lib/lava-server/default/media/job-output';

/** Main tables whose row counts a restore test compares. */
export const LAVA_TABLES = [
  'lava_scheduler_app_testjob',
  'lava_scheduler_app_device',
  'lava_scheduler_app_devicetype',
  'lava_scheduler_app_worker',
  'auth_user',
];

// Reads name/user/host/port the way lava_server/settings/prod.py does (instance.conf, then settings.conf,
// settings.yaml, settings.d/*.yaml, later wins) and prints them WITHOUT the password.
const READ_DB_SETTINGS = `
import glob, json, yaml, configparser, os
db = {}
if os.path.exists('/etc/lava-server/instance.conf'):
    c = configparser.ConfigParser(); c.read_string('[i]\\n' + open('/etc/lava-server/instance.conf').read())
    i = c['i']
    db = {'name': i.get('LAVA_DB_NAME'), 'user': i.get('LAVA_DB_USER'), 'host': i.get('LAVA_DB_SERVER'), 'port': i.get('LAVA_DB_PORT')}
for f in ['/etc/lava-server/settings.conf', '/etc/lava-server/settings.yaml'] + sorted(glob.glob('/etc/lava-server/settings.d/*.yaml')):
    if not os.path.exists(f): continue
    d = ((yaml.safe_load(open(f)) or {}).get('DATABASES') or {}).get('default') or {}
    for k in ('NAME', 'USER', 'HOST', 'PORT'):
        if k in d: db[k.lower()] = d[k]
print(json.dumps({'name': db.get('name') or 'lavaserver', 'user': db.get('user') or 'lavaserver', 'host': db.get('host') or 'localhost', 'port': int(db.get('port') or 5432)}))
`;

export function readDatabaseSettings(master: string): RemoteCommand {
  return remote(master, ['python3', '-c', READ_DB_SETTINGS], { sudo: true });
}

/** psql as the database owner; libpq takes the password from ~lavaserver/.pgpass, never from argv. */
function psqlAs(db: LavaDatabase, sql: string): string[] {
  return ['sudo', '-n', '-u', db.user, 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', db.host, '-p', String(db.port), '-d', db.name, '-c', sql];
}

/** Database size and media size in bytes, for the store's free-space check. */
export function measureMaster(master: string, db: LavaDatabase): RemoteCommand {
  const sizeSql = 'select pg_database_size(current_database())';
  return remote(master, ['sh', '-c', '"$@"; du -sb /var/lib/lava-server/default/media | cut -f1', 'measure', ...psqlAs(db, sizeSql)]);
}

export function rowCounts(master: string, db: LavaDatabase): RemoteCommand {
  const sql = LAVA_TABLES.map((t) => `select '${t}', count(*) from ${t}`).join(' union all ');
  return remote(master, psqlAs(db, sql));
}

export function freeBytes(store: string, dir: string): RemoteCommand {
  return remote(store, ['sh', '-c', 'mkdir -p "$1" && df -PB1 "$1" | awk "NR==2 {print \\$4}"', 'df', dir]);
}

export function makePrivateDir(store: string, dir: string): RemoteCommand {
  return remote(store, ['sh', '-c', 'umask 077 && mkdir -p "$1" && chmod 700 "$1"', 'mkdir', dir]);
}

/** Receives a stream into a private file (0600) under a temporary name inside the bundle. */
export function receiveFile(store: string, path: string): RemoteCommand {
  return remote(store, ['sh', '-c', 'umask 077 && cat > "$1"', 'receive', path]);
}

/** Low priority on the master: a backup must not starve a running LAVA. */
const gentle = ['nice', '-n', '10', 'ionice', '-c', '3'];

export function dumpDatabase(master: string, db: LavaDatabase): RemoteCommand {
  return remote(master, [...gentle, 'sudo', '-n', '-u', db.user, 'pg_dump', '-h', db.host, '-p', String(db.port), '--no-password', db.name]);
}

export function packageVersions(master: string): RemoteCommand {
  return remote(master, [
    'sh',
    '-c',
    'f=$1; shift; dpkg-query -W -f "$f" "$@" "postgresql*" 2>/dev/null | grep -P "\\tinstalled$" | cut -f1,2',
    'versions',
    // dpkg-query's own format (it expands \t and \n); an argument, so no shell ever expands ${...}.
    '${Package}\\t${Version}\\t${db:Status-Status}\\n',
    ...LAVA_PACKAGES,
  ]);
}

export function baseSystem(master: string): RemoteCommand {
  return remote(master, ['sh', '-c', 'echo "debian_version $(cat /etc/debian_version)"; cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v "^#" | grep .']);
}

/** The exact .deb files of the installed versions, as a tar stream (apt-get download pkg=version). */
export function downloadPackages(master: string, versions: Record<string, string>): RemoteCommand {
  const wanted = Object.entries(versions).map(([p, v]) => `${p}=${v}`);
  return remote(master, ['sh', '-c', 'd=$(mktemp -d) && cd "$d" && apt-get download -q "$@" >&2 && tar -cf - *.deb; rc=$?; rm -rf "$d"; exit $rc', 'debs', ...wanted]);
}

export function presentPaths(master: string, paths: string[]): RemoteCommand {
  return remote(master, ['sh', '-c', 'cd / && for p in "$@"; do if [ -e "$p" ]; then echo "present $p"; else echo "absent $p"; fi; done', 'paths', ...paths], { sudo: true });
}

export function tarPaths(master: string, paths: string[]): RemoteCommand {
  return remote(master, [...gentle, 'tar', '-C', '/', '-cf', '-', '--', ...paths], { sudo: true });
}

// Writes manifest.json: every file with size and sha256, plus what the runbook measured; refuses when the
// dump on disk is not the dump that was streamed. Then seals the bundle: 0600 files, 0700 dir, final name.
const SEAL = `
import hashlib, json, os, sys
tmp, final, meta = sys.argv[1], sys.argv[2], json.load(sys.stdin)
files = {}
for root, _, names in os.walk(tmp):
    for n in sorted(names):
        p = os.path.join(root, n); h = hashlib.sha256()
        with open(p, 'rb') as f:
            for b in iter(lambda: f.read(1 << 20), b''): h.update(b)
        files[os.path.relpath(p, tmp)] = {'size': os.path.getsize(p), 'sha256': h.hexdigest()}
for name, expect in meta['streamed'].items():
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

export function sealBundle(store: string, tmp: string, final: string, meta: unknown): RemoteCommand {
  return remote(store, ['python3', '-c', SEAL, tmp, final], { stdin: JSON.stringify(meta) });
}

/** Keeps the newest `keep` sealed bundles; incomplete ones (*.partial) older than a day go too. */
export function pruneBundles(store: string, dir: string, keep: number): RemoteCommand {
  return remote(store, [
    'sh',
    '-c',
    'cd "$1" && ls -1d 20*[0-9TZ]* 2>/dev/null | grep -v "\\.partial$" | sort -r | tail -n +"$(($2 + 1))" | while read -r b; do rm -rf -- "$b" && echo "removed $b"; done; find . -maxdepth 1 -name "*.partial" -mtime +0 -exec rm -rf -- {} + ; true',
    'prune',
    dir,
    String(keep),
  ]);
}
