// The commands LAVA backup runbooks run on a master or worker. Scripts are files in scripts/; values reach
// them only as positional arguments (quoted by the one quoting function in activities/ssh/).
import { remote, type RemoteCommand } from '../engine/commands.js';
import archiveLogs from './scripts/archive-logs.sh';
import baseSystemScript from './scripts/base-system.sh';
import downloadDebs from './scripts/download-packages.sh';
import dumpInSnapshot from './scripts/dump-in-snapshot.py';
import packageVersionsScript from './scripts/package-versions.sh';
import presentPathsScript from './scripts/present-paths.sh';
import readDbSettings from './scripts/read-db-settings.py';
import workerVersionsScript from './scripts/worker-versions.sh';

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

/** The source's "service log files": what the services logged up to the backup (present ones; none is required). */
export const LAVA_LOG_PATHS = ['var/log/lava-server', 'var/log/lava-dispatcher', 'var/log/lava-coordinator.log', 'var/log/apache2'];
export const LAVA_JOB_OUTPUT = 'var/lib/lava-server/default/media/job-output';

/** Main tables whose row counts a restore test compares. */
export const LAVA_TABLES = [
  'lava_scheduler_app_testjob',
  'lava_scheduler_app_device',
  'lava_scheduler_app_devicetype',
  'lava_scheduler_app_worker',
  'auth_user',
];

export function readDatabaseSettings(master: string): RemoteCommand {
  return remote(master, ['python3', '-c', readDbSettings], { sudo: true });
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

/** Low priority on the master: a backup must not starve a running LAVA. */
const gentle = ['nice', '-n', '10', 'ionice', '-c', '3'];

/** pg_dump -Fc of one snapshot, with the row counts taken in that snapshot (scripts/dump-in-snapshot.py). */
export function dumpDatabase(master: string, db: LavaDatabase, compression: DumpCompression = 'default'): RemoteCommand {
  return remote(master, [
    ...gentle,
    'sudo',
    '-n',
    '-u',
    db.user,
    'python3',
    '-c',
    dumpInSnapshot,
    db.host,
    String(db.port),
    db.name,
    compression,
    ...LAVA_TABLES,
  ]);
}

/** pg_dump's own compression (zlib) or none: an uncompressed dump restores about twice as fast (bench/RESTORE-NOTES.md). */
export type DumpCompression = 'default' | 'none';

/** The row counts dump-in-snapshot.py printed last on stderr. */
export function snapshotRows(stderrTail: string): Record<string, number> | undefined {
  const line = stderrTail
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('runbooks-rows '));
  return line ? (JSON.parse(line.slice('runbooks-rows '.length)) as Record<string, number>) : undefined;
}

export function packageVersions(master: string): RemoteCommand {
  return remote(master, [
    'sh',
    '-c',
    packageVersionsScript,
    'versions',
    // dpkg-query's own format (it expands \t and \n); an argument, so no shell ever expands ${...}.
    '${Package}\\t${Version}\\t${db:Status-Status}\\n',
    ...LAVA_PACKAGES,
  ]);
}

export function baseSystem(master: string): RemoteCommand {
  return remote(master, ['sh', '-c', baseSystemScript, 'base']);
}

/** The exact .deb files of the installed versions, as a tar stream (apt-get download pkg=version). */
export function downloadPackages(master: string, versions: Record<string, string>): RemoteCommand {
  const wanted = Object.entries(versions).map(([p, v]) => `${p}=${v}`);
  return remote(master, ['sh', '-c', downloadDebs, 'debs', ...wanted]);
}

export function presentPaths(master: string, paths: string[]): RemoteCommand {
  return remote(master, ['sh', '-c', presentPathsScript, 'paths', ...paths], { sudo: true });
}

/** The service logs (scripts/archive-logs.sh): a log still being written is read as it is. */
export function tarLogs(master: string, paths: string[]): RemoteCommand {
  return remote(master, [...gentle, 'sh', '-c', archiveLogs, 'logs', ...paths], { sudo: true });
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
    workerVersionsScript,
    'versions',
    '${Package}\\t${Version}\\t${db:Status-Status}\\n',
    'lava-dispatcher',
    'lava-common',
    'ser2net',
  ]);
}
