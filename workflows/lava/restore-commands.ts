// The commands LAVA restore runbooks run on a master or worker. Order and checks follow LAVA's "Restoring
// a master from a backup" (admin-backups.rst); facts and the two upstream doc bugs are in procedures.md A.
// Nothing here ever runs `migrate` or `makemigrations`: a restore must not change the schema.
import { remote, type RemoteCommand } from '../engine/commands.js';
import type { LavaDatabase } from './commands.js';
import compareInstalledScript from './scripts/compare-installed.sh';
import devicesWithHealthScript from './scripts/devices-with-health.sh';
import dumpCurrent from './scripts/dump-current-database.sh';
import failQueuedJobsScript from './scripts/fail-queued-jobs.sh';
import failRunningJobsScript from './scripts/fail-running-jobs.sh';
import healthChecksPassedScript from './scripts/health-checks-passed.py';
import holdingPageScript from './scripts/holding-page.sh';
import reconcilePassword from './scripts/reconcile-role-password.py';
import replaceDatabaseScript from './scripts/replace-database.sh';
import replaceDatabaseBeforeDrainScript from './scripts/replace-database-before-drain.sh';
import serviceStatesScript from './scripts/service-states.sh';
import startAndCheckScript from './scripts/start-and-check.sh';
import waitWorkerOnlineScript from './scripts/wait-worker-online.sh';
import reloadWorkerSetupScript from './scripts/reload-worker-setup.sh';
import workerNameScript from './scripts/worker-name.sh';
import workersOnlineScript from './scripts/workers-online.py';

/** Where a restore keeps the files it fetched from the store, per run (root only, 0700). */
export const RESTORE_ROOT = '/var/tmp/runbooks-restore';

export function lavaManage(master: string, args: string[]): RemoteCommand {
  return remote(master, ['lava-server', 'manage', ...args], { sudo: true });
}

/** The daemons a restore stops, in the doc's order; gunicorn (the UI) is started last, after `reopen`. */
export const LAVA_SERVICES = ['lava-server-gunicorn', 'lava-scheduler', 'lava-worker', 'lava-publisher'];
export const LAVA_BACKGROUND = ['lava-scheduler', 'lava-publisher', 'lava-worker'];
export const LAVA_LOGS: Record<string, string> = {
  'lava-scheduler': '/var/log/lava-server/lava-scheduler.log',
  'lava-publisher': '/var/log/lava-server/lava-publisher.log',
  'lava-worker': '/var/log/lava-dispatcher/lava-worker.log',
};

/** "newer|equal|older <installed>" of the installed lava-server against the bundle's version (dpkg's order). */
export function compareInstalled(host: string, pkg: string, bundleVersion: string): RemoteCommand {
  return remote(host, ['sh', '-c', compareInstalledScript, 'compare', pkg, bundleVersion, '${Version}']);
}

export function freeBytesAt(host: string, dir: string): RemoteCommand {
  return remote(host, ['sh', '-c', 'df -PB1 "$1" | awk "NR==2 {print \\$4}"', 'df', dir]);
}

export function serviceAll(host: string, action: 'start' | 'stop', services: string[]): RemoteCommand {
  return remote(host, ['sh', '-c', 'for s in "$@"; do service "$s" ' + action + ' || exit $?; done', action, ...services], { sudo: true });
}

/** One line per service: "running NAME" or "stopped NAME" (LSB status: 0 running, 3 not running). */
export function serviceStates(host: string, services: string[]): RemoteCommand {
  return remote(host, ['sh', '-c', serviceStatesScript, 'status', ...services], { sudo: true });
}

/** Receives one bundle file into this run's private restore directory on the master. */
export function receiveForRestore(master: string, dir: string, file: string): RemoteCommand {
  return remote(master, ['sh', '-c', 'umask 077 && mkdir -p "$1" && cat > "$1/$2"', 'receive', dir, file], { sudo: true });
}

export function sha256Files(host: string, dir: string, files: string[]): RemoteCommand {
  return remote(host, ['sh', '-c', 'cd "$1" && shift && sha256sum -- "$@"', 'sha', dir, ...files], { sudo: true });
}

/** The database as it is now, to stdout (or a note that there is none): the copy a restore keeps first. */
export function dumpCurrentDatabase(master: string, db: LavaDatabase): RemoteCommand {
  return remote(master, ['sh', '-c', dumpCurrent, 'dump-current', String(db.port), db.name], { sudo: true });
}

/**
 * DROP and re-create the database from this run's lava-server.dump, once (scripts/replace-database.sh). Runs
 * recorded before it waited for closing sessions keep the script they ran, byte for byte
 * (replace-database-before-drain.sh): the gate's fingerprint covers it, and their approvals carry that fingerprint.
 */
export function replaceDatabase(master: string, dir: string, db: LavaDatabase, tables: string[], drainSessions = true): RemoteCommand {
  const script = drainSessions ? replaceDatabaseScript : replaceDatabaseBeforeDrainScript;
  return remote(master, ['sh', '-c', script, 'replace-db', dir, String(db.port), db.name, db.user, ...tables], { sudo: true });
}

/** `showmigrations --plan`: "[ ]" marks one not applied. Read-only; LAVA's own `wait migrations` does the same. */
export function showMigrations(master: string): RemoteCommand {
  return lavaManage(master, ['showmigrations', '--plan']);
}

/** Device lines of `devices list` for the given health values (flags UPPERCASE, output Title-case). */
export function devicesWithHealth(master: string, health: string[]): RemoteCommand {
  return remote(master, ['sh', '-c', devicesWithHealthScript, 'health', ...health], { sudo: true });
}

export function devicesCsv(master: string): RemoteCommand {
  return lavaManage(master, ['devices', 'list', '--all', '--csv']);
}

export function extractTar(host: string, tar: string, members: string[] = []): RemoteCommand {
  return remote(host, ['tar', '-C', '/', '-xpf', tar, ...(members.length ? ['--', ...members] : [])], { sudo: true });
}

/** Sets the role's password from the restored settings; the password is never printed. */
export function reconcileRolePassword(master: string, db: LavaDatabase): RemoteCommand {
  return remote(master, ['python3', '-c', reconcilePassword, String(db.port), db.user], { sudo: true });
}

/** "failed ID" per job failed (RUNNING, CANCELING), "queued ID STATE" per job still queued. */
export function failRunningJobs(master: string): RemoteCommand {
  return remote(master, ['sh', '-c', failRunningJobsScript, 'fail-jobs'], { sudo: true });
}

/** Fails the jobs of these states (SUBMITTED, SCHEDULING, SCHEDULED) before the scheduler starts. */
export function failQueuedJobs(master: string, states: string[]): RemoteCommand {
  return remote(master, ['sh', '-c', failQueuedJobsScript, 'fail-queued', ...states], { sudo: true });
}

/** Waits (bounded) until every worker with devices that is not retired is Online on the master; exits 1 naming the others. */
export function workersOnline(master: string, seconds = 60): RemoteCommand {
  return remote(master, ['python3', '-c', workersOnlineScript, String(seconds)], { sudo: true });
}

/** Every device Good (its health check passed) or Retired; exits 1 naming the others. */
export function healthChecksPassed(master: string): RemoteCommand {
  return remote(master, ['python3', '-c', healthChecksPassedScript], { sudo: true });
}

/** udev reads the rules again, ser2net restarts (where the worker host has them). */
export function reloadWorkerSetup(worker: string): RemoteCommand {
  return remote(worker, ['sh', '-c', reloadWorkerSetupScript, 'reload-worker-setup'], { sudo: true });
}

/** Starts services, waits until they run, prints "error SERVICE: LINE" for errors their logs gained. */
export function startAndCheck(host: string, services: string[], logs: Record<string, string>): RemoteCommand {
  return remote(host, ['sh', '-c', startAndCheckScript, 'start', ...services, ...services.map((s) => logs[s] ?? '/dev/null')], { sudo: true });
}

/** apache2's static holding page instead of the LAVA site: put up, take down, or check it is possible. */
export function holdingPage(master: string, action: 'up' | 'down' | 'check'): RemoteCommand {
  return remote(master, ['sh', '-c', holdingPageScript, 'holding', action], { sudo: true });
}

/** The worker's name as its config gives it (WORKER_NAME="--name X"), else its hostname, as lava-worker does. */
export function workerName(worker: string): RemoteCommand {
  return remote(worker, ['sh', '-c', workerNameScript, 'worker-name'], { sudo: true });
}

/** Waits (bounded, on the host) for the master to show the worker Online: a worker reconnects within seconds. */
export function waitWorkerOnline(master: string, name: string, seconds = 120): RemoteCommand {
  return remote(master, ['sh', '-c', waitWorkerOnlineScript, 'online', name, String(seconds)], { sudo: true });
}

/** Unpacks only the named members of a tar that arrives on stdin (the worker token and config). */
export function receiveTarMembers(host: string, members: string[]): RemoteCommand {
  return remote(host, ['tar', '-C', '/', '-xpf', '-', '--', ...members], { sudo: true });
}

export function fileModes(host: string, paths: string[]): RemoteCommand {
  return remote(host, ['stat', '-c', '%a %U %n', '--', ...paths], { sudo: true });
}

/** "1" when the LAVA database exists (a damaged master may have lost it), as the postgres superuser. */
export function databaseExists(master: string, db: LavaDatabase): RemoteCommand {
  return remote(
    master,
    [
      'runuser',
      '-u',
      'postgres',
      '--',
      'psql',
      '-X',
      '-At',
      '-p',
      String(db.port),
      '-d',
      'postgres',
      '-c',
      `select count(*) from pg_database where datname = '${db.name}'`,
    ],
    {
      sudo: true,
    },
  );
}
