// The commands LAVA runbooks run on a master and on the backup store. Scripts are constants; values reach
// them only as positional arguments (quoted by the one quoting function in activities/).
import { remote, type RemoteCommand } from '../engine/commands.js';

export interface LavaDatabase {
  name: string;
  user: string;
  host: string;
  port: number;
}

/** Packages whose exact versions a restore needs (the seed: DB and package versions must match). */
export const LAVA_PACKAGES = ['lava-server', 'lava-dispatcher', 'lava-server-doc', 'python3-django', 'python3-django-tables2', 'postgresql-common'];

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
  return remote(master, [
    'sh',
    '-c',
    'echo "debian_version $(cat /etc/debian_version)"; cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v "^#" | grep .',
  ]);
}

/** The exact .deb files of the installed versions, as a tar stream (apt-get download pkg=version). */
export function downloadPackages(master: string, versions: Record<string, string>): RemoteCommand {
  const wanted = Object.entries(versions).map(([p, v]) => `${p}=${v}`);
  return remote(master, [
    'sh',
    '-c',
    'd=$(mktemp -d) && cd "$d" && apt-get download -q "$@" >&2 && tar -cf - *.deb; rc=$?; rm -rf "$d"; exit $rc',
    'debs',
    ...wanted,
  ]);
}

export function presentPaths(master: string, paths: string[]): RemoteCommand {
  return remote(master, ['sh', '-c', 'cd / && for p in "$@"; do if [ -e "$p" ]; then echo "present $p"; else echo "absent $p"; fi; done', 'paths', ...paths], {
    sudo: true,
  });
}

export function tarPaths(master: string, paths: string[]): RemoteCommand {
  return remote(master, [...gentle, 'tar', '-C', '/', '-cf', '-', '--', ...paths], { sudo: true });
}

/**
 * What a LAVA worker host needs back after a rebuild (LAVA's "Creating Backups": the worker's config and
 * token, serial console and udev setup). Optional ones that are absent are recorded as absent.
 */
export const LAVA_WORKER_PATHS = [
  'etc/lava-dispatcher/lava-worker',
  'var/lib/lava/dispatcher/worker/token',
  'etc/lava-dispatcher/dispatcher.yaml',
  'etc/lava-dispatcher/dispatcher.d',
  'etc/ser2net.yaml',
  'etc/ser2net.conf',
  'etc/udev/rules.d',
  'etc/default/ser2net',
  'etc/default/tftpd-hpa',
];

/** lava-dispatcher's version and the base system, as a worker restore reinstalls them. */
export function workerVersions(worker: string): RemoteCommand {
  return remote(worker, [
    'sh',
    '-c',
    'f=$1; shift; dpkg-query -W -f "$f" "$@" 2>/dev/null | grep -P "\\tinstalled$" | cut -f1,2; echo "debian_version\t$(cat /etc/debian_version)"',
    'versions',
    '${Package}\\t${Version}\\t${db:Status-Status}\\n',
    'lava-dispatcher',
    'lava-common',
    'ser2net',
  ]);
}

/** presentPaths' answer: which paths exist and which do not. */
export function presence(stdout: string): { present: string[]; absent: string[] } {
  const lines = stdout.trim().split('\n');
  return {
    present: lines.filter((l) => l.startsWith('present ')).map((l) => l.slice(8)),
    absent: lines.filter((l) => l.startsWith('absent ')).map((l) => l.slice(7)),
  };
}
