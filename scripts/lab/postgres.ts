// The lab's PostgreSQL 15: a private cluster in DIR/pg/data, run with pg_ctl (no systemd here), TCP on
// 127.0.0.1 only. Authentication is trust, which initdb's pg_hba.conf limits to the local socket and
// loopback addresses: anyone who can reach it is already on this machine.
import { chown, mkdir, readFile, rm, access } from 'node:fs/promises';
import { execa } from 'execa';
import { mkdirMode, type LabLayout } from './layout.js';
import { commandLine, isAlive } from './owned-process.js';
import { tcpAccepts } from './tcp-port.js';

/** Where a private cluster lives: the lab's, or another's such as the cluster bench's (bench/cluster.ts). */
export type PgLayout = Pick<LabLayout, 'pgDir' | 'pgData' | 'pgLog'>;

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const PG_SOCKET_DIR = '/var/run/postgresql';
export const PG_HOST = '127.0.0.1';

function asPostgres(cmd: string, args: string[], cwd: string) {
  // runuser rather than su -c: no shell in between, so no quoting of the -o option string.
  return execa('runuser', ['-u', 'postgres', '--', `${PG_BIN}/${cmd}`, ...args], {
    reject: false,
    stdin: 'ignore',
    cwd,
    timeout: 60000,
  });
}

/** The running postmaster of this lab's data dir, if any, with the port it actually listens on. */
export async function labPostmaster(lab: PgLayout): Promise<{ pid: number; port: number } | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(`${lab.pgData}/postmaster.pid`, 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 1 || !(await isAlive(pid))) return undefined;
  // A stale postmaster.pid whose pid now belongs to something else must not count as ours.
  if (!(await commandLine(pid))?.includes(lab.pgData)) return undefined;
  return { pid, port };
}

export async function pgReady(port: number): Promise<boolean> {
  const r = await execa(`${PG_BIN}/pg_isready`, ['-q', '-h', PG_HOST, '-p', String(port), '-t', '3'], {
    reject: false,
    stdin: 'ignore',
  });
  return r.exitCode === 0;
}

export async function postgresUp(lab: PgLayout, port: number): Promise<boolean> {
  const pm = await labPostmaster(lab);
  return pm !== undefined && pm.port === port && (await pgReady(port));
}

async function logTail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function ensurePostgres(lab: PgLayout, port: number): Promise<'kept' | 'started'> {
  const running = await labPostmaster(lab);
  if (running && running.port === port && (await pgReady(port))) return 'kept';
  if (running) await stopPostgres(lab);

  await mkdir(PG_SOCKET_DIR, { recursive: true });
  await execa('chown', ['postgres:postgres', PG_SOCKET_DIR], { stdin: 'ignore' });
  await mkdirMode(lab.pgDir, 0o755);
  await chown(lab.pgDir, ...(await postgresIds()));

  const initialized = await access(`${lab.pgData}/PG_VERSION`).then(
    () => true,
    () => false,
  );
  if (!initialized) {
    // A half-made data dir (initdb killed midway) would make initdb refuse to run.
    await rm(lab.pgData, { recursive: true, force: true });
    const r = await asPostgres('initdb', ['-D', lab.pgData, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8'], lab.pgDir);
    if (r.exitCode !== 0) throw new Error(`initdb ${lab.pgData} failed: ${r.stderr || r.stdout}`);
  }

  if (await tcpAccepts(PG_HOST, port)) {
    throw new Error(
      `${PG_HOST}:${port} is already in use by something that is not this lab's PostgreSQL (${lab.pgData}); ` +
        `pick another --pg-port or stop it (see: ss -ltnp 'sport = :${port}')`,
    );
  }
  const r = await asPostgres(
    'pg_ctl',
    [
      '-D',
      lab.pgData,
      '-l',
      lab.pgLog,
      '-w',
      '-t',
      '30',
      '-o',
      `-c listen_addresses=${PG_HOST} -c port=${port} -c unix_socket_directories=${PG_SOCKET_DIR}`,
      'start',
    ],
    lab.pgDir,
  );
  if (r.exitCode !== 0) {
    throw new Error(`pg_ctl start of ${lab.pgData} on port ${port} failed: ${r.stderr || r.stdout}\n${lab.pgLog}:\n${await logTail(lab.pgLog)}`);
  }
  if (!(await pgReady(port))) throw new Error(`PostgreSQL of ${lab.pgData} started but pg_isready on ${PG_HOST}:${port} fails`);
  return 'started';
}

async function postgresIds(): Promise<[number, number]> {
  const r = await execa('getent', ['passwd', 'postgres'], { reject: false, stdin: 'ignore' });
  const f = r.stdout.trim().split(':');
  if (r.exitCode !== 0 || f.length < 4) throw new Error('user postgres is missing: apt-get install -y --no-install-recommends postgresql-15');
  return [Number(f[2]), Number(f[3])];
}

export async function stopPostgres(lab: PgLayout): Promise<void> {
  if (!(await labPostmaster(lab))) return;
  const r = await asPostgres('pg_ctl', ['-D', lab.pgData, '-m', 'fast', '-w', '-t', '60', 'stop'], lab.pgDir);
  if (r.exitCode !== 0 && (await labPostmaster(lab))) {
    throw new Error(`pg_ctl stop of ${lab.pgData} failed: ${r.stderr || r.stdout}`);
  }
}
