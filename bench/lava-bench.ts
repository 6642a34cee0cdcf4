// What the LAVA benches share (bench/backup.ts, bench/restore.ts): their own dev server and lab, the lab's
// LAVA database grown to BENCH_DB_GIB (default 1.2) GiB of incompressible ballast, the real worker process
// (`node build/workers/main.js`) in a child process so that its RSS and CPU are its own, OpenSSH baselines,
// per-process CPU sampling, and reading a step's activity out of a run's history.
// Both benches use the same data directory (BENCH_DATA_ROOT/bench-lava): the grown database is kept in the
// lab's PostgreSQL between runs, so only the first run of either pays for growing it. They take LAVA over
// (machine-global), so they run under `flock /tmp/lava-global.lock` and never at the same time.
import { labSshArgv } from '../scripts/lab/lab-ssh.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { defaultLabOptions, labDown, labUp } from '../scripts/lab/lab.js';
import { lavaUp, type LavaInfo } from '../scripts/lab/lava.js';
import { startDevServer, stopDevServer } from '../scripts/temporal-server.js';
import { loadInventory, type Inventory, type InventoryHost } from '../workers/inventory.js';
import type { RunbookView } from '../workflows/engine/messages.js';
import { inNetns } from './netns.js';

export const TARGET_GIB = Number(process.env.BENCH_DB_GIB ?? 1.2);
export const RUN_TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MIN ?? 60) * 60_000;
export const MASTER = 'lava-master';
export const STORE = 'backup-store';
export const PG_PORT = Number(process.env.BENCH_PG_PORT ?? 5492);
export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;
/** One ballast row: 32 md5 hex strings, 1024 characters, below the ~2 KB TOAST threshold, so pglz never gets to compress it. */
const BALLAST_ROW = Array.from({ length: 32 }, () => 'md5(random()::text)').join(' || ');
const BALLAST_BATCH = 50_000;

// Overridable (like scripts/test.ts) so a bench can share a machine with a test suite or another checkout's bench.
export const root = process.env.BENCH_DATA_ROOT ? join(process.env.BENCH_DATA_ROOT, 'bench-lava') : join(process.cwd(), '.data', 'bench-lava');
export const server = {
  dbFile: join(root, 'temporal.sqlite'),
  ip: '127.0.0.1',
  port: Number(process.env.BENCH_TEMPORAL_PORT ?? 7273),
  uiPort: Number(process.env.BENCH_TEMPORAL_UI_PORT ?? 8273),
  logFile: join(root, 'temporal.log'),
};
export const lab = defaultLabOptions({ dir: join(root, 'lab'), addrBase: process.env.BENCH_LAB_ADDR_BASE ?? '127.0.70', pgPort: PG_PORT });
export const address = `${server.ip}:${server.port}`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const sq = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
export const mib = (b: number): number => b / MiB;

// ---- the lab database ---------------------------------------------------------------------------

export function psql(sql: string, db = 'lavaserver'): string {
  return execFileSync('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(PG_PORT), '-U', 'postgres', '-d', db, '-c', sql], {
    encoding: 'utf8',
    maxBuffer: 16 * MiB,
  }).trim();
}

export const dbSize = (db: string): number => Number(psql(`SELECT pg_database_size('${db.replaceAll("'", "''")}')`, db));

/** Grows `db` to the target with rows of random hex in bench_ballast (owned by LAVA's user); nothing to do when big enough. */
export function growDatabase(db: string, owner: string): { bytes: number; grownBytes: number; seconds: number; ballastRows: number } {
  const target = TARGET_GIB * GiB;
  const before = dbSize(db);
  const t = performance.now();
  psql(
    `SET client_min_messages TO warning; CREATE TABLE IF NOT EXISTS bench_ballast (id bigint NOT NULL, payload text NOT NULL); ALTER TABLE bench_ballast OWNER TO "${owner}";`,
    db,
  );
  let size = before;
  if (size < target) console.log(`bench: growing ${db} from ${(size / GiB).toFixed(2)} GiB to ${TARGET_GIB} GiB`);
  while (size < target) {
    psql(`INSERT INTO bench_ballast SELECT g, ${BALLAST_ROW} FROM generate_series(1, ${BALLAST_BATCH}) g`, db);
    size = dbSize(db);
    process.stdout.write(`\rbench: ${db} is ${(size / GiB).toFixed(2)} GiB `);
  }
  if (size !== before) {
    process.stdout.write('\n');
    // Hint bits and the visibility map set now, so no dump below pays for the first read of fresh rows.
    psql('VACUUM (ANALYZE) bench_ballast', db);
    psql('CHECKPOINT', db);
    size = dbSize(db);
  }
  return {
    bytes: size,
    grownBytes: size - before,
    seconds: (performance.now() - t) / 1000,
    ballastRows: Number(psql('SELECT count(*) FROM bench_ballast', db)),
  };
}

// ---- the raw baselines ----------------------------------------------------------------------------

/** OpenSSH into a lab host, the raw baseline's client. */
export const sshArgv = (h: InventoryHost): string[] => labSshArgv(h);

export function runToFile(argv: string[], file: string): Promise<{ seconds: number; bytes: number }> {
  const fd = openSync(file, 'w', 0o600);
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, 'pipe'] });
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - t) / 1000;
      closeSync(fd);
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}: ${err}`));
      resolve({ seconds, bytes: statSync(file).size });
    });
  });
}

export function runShell(script: string): Promise<{ seconds: number }> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ seconds: (performance.now() - t) / 1000 }) : reject(new Error(`${script} exited ${code}: ${err}`))));
  });
}

export interface Timed {
  seconds: number;
  bytes: number;
  cpu: CpuUse;
}

// ---- the worker, its memory ----------------------------------------------------------------------

export function procStatus(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(Vm\w+|Rss\w+):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * 1024;
  }
  return out;
}

/**
 * The worker's own bundle-signing key (what setup makes for a checkout's worker): manifests are signed by
 * the worker that writes them, and a restore checks them against that worker's public key.
 */
function ensureSigningKey(file: string): void {
  if (existsSync(file)) return;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'runbooks-bench-signing', '-f', file]);
}

/**
 * The production worker process on the bench's server; `env` adds RUNBOOK_* settings (an allowed_signers file,
 * say). `opts`: another server and data directory (another bench), and the log line that means ready.
 */
export function startWorker(
  inventoryPath: string,
  logFile: string,
  metricsPort: number,
  extraEnv: Record<string, string> = {},
  opts: { address?: string; dataDir?: string; ready?: RegExp; netns?: string } = {},
): Promise<ChildProcess> {
  const dataDir = opts.dataDir ?? join(root, 'worker');
  const ready = opts.ready ?? /"worker started"/;
  ensureSigningKey(join(dataDir, 'keys', 'bundle-signing'));
  const env: NodeJS.ProcessEnv = {};
  // Nothing of the caller's Temporal/runbook environment (a codec key, another server) leaks in.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TEMPORAL_') && !k.startsWith('RUNBOOK_')) env[k] = v;
  Object.assign(env, {
    TEMPORAL_ADDRESS: opts.address ?? address,
    TEMPORAL_NAMESPACE: 'default',
    RUNBOOK_INVENTORY: inventoryPath,
    RUNBOOK_METRICS_PORT: String(metricsPort),
    RUNBOOK_DATA_DIR: dataDir,
    RUNBOOK_LOG_LEVEL: 'WARN',
    ...extraEnv,
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  const argv = inNetns(opts.netns, [process.execPath, 'build/workers/main.js']);
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.pipe(log);
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`the worker did not start within 180 s; see ${logFile}`)), 180_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the worker exited with ${code} before it started; see ${logFile}`));
    });
    child.stdout!.on('data', (b: Buffer) => {
      log.write(b);
      buf = (buf + b.toString()).slice(-4000);
      if (ready.test(buf)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}

export async function stopChild(child: ChildProcess, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** Busy and total CPU ticks of the whole machine (all CPUs summed); steal counts as not busy. */
export function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return { busy: user + nice + system + irq + softirq, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

/** utime+stime ticks and the command name of every process. */
export function processTicks(): Map<number, { comm: string; ticks: number }> {
  const out = new Map<number, { comm: string; ticks: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = st.lastIndexOf(')');
      const rest = st.slice(close + 2).split(' ');
      out.set(Number(d), { comm: st.slice(st.indexOf('(') + 1, close), ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

export interface Sample {
  /** Date.now() of the sample, comparable with history event times (same machine). */
  at: number;
  rss: number;
  machineBusy: number;
  /** CPU ticks since the previous sample, by process name (the worker and this process by role). */
  ticks: Record<string, number>;
}

/**
 * Every 200 ms: the worker's VmRSS (when a pid is given) and the CPU every process used since the last
 * sample. A process that starts and ends between two samples is missed (≤ 200 ms of CPU). With a worker
 * pid, VmHWM is reset first (clear_refs 5) so that the peak is the one of what is measured.
 */
export function sampler(roles: Map<number, string>, workerPid?: number) {
  const samples: Sample[] = [];
  let last = processTicks();
  let lastMachine = machineTicks();
  let resetHwm = false;
  if (workerPid !== undefined) {
    try {
      writeFileSync(`/proc/${workerPid}/clear_refs`, '5');
      resetHwm = true;
    } catch {
      resetHwm = false;
    }
  }
  const role = (pid: number, comm: string): string => roles.get(pid) ?? comm;
  const take = (): void => {
    const now = processTicks();
    const m = machineTicks();
    const ticks: Record<string, number> = {};
    for (const [pid, p] of now) {
      const before = last.get(pid);
      const d = before ? p.ticks - before.ticks : p.ticks;
      if (d > 0) ticks[role(pid, p.comm)] = (ticks[role(pid, p.comm)] ?? 0) + d;
    }
    let rss = 0;
    if (workerPid !== undefined) {
      try {
        rss = procStatus(workerPid).VmRSS ?? 0;
      } catch {
        rss = 0;
      }
    }
    samples.push({ at: Date.now(), rss, machineBusy: m.busy - lastMachine.busy, ticks });
    last = now;
    lastMachine = m;
  };
  const t0 = Date.now();
  take();
  samples[0]!.ticks = {};
  samples[0]!.machineBusy = 0;
  const timer = setInterval(take, 200);
  return {
    samples,
    resetHwm,
    t0,
    stop(): { hwm: number; rssEnd: number } {
      clearInterval(timer);
      take();
      if (workerPid === undefined) return { hwm: 0, rssEnd: 0 };
      const s = procStatus(workerPid);
      return { hwm: s.VmHWM ?? 0, rssEnd: s.VmRSS ?? 0 };
    },
  };
}

export interface CpuUse {
  seconds: number;
  /** Busy CPUs on average over the window (the machine has `nproc` of them). */
  machineCores: number;
  /** Average CPUs used by each kind of process, largest first. */
  byProcess: Record<string, number>;
  /** Processes that take no part in a transfer (other people's tests, say): load that skews the figure. */
  other: number;
}

/** Process names (and roles) that take part in a dump: everything else counts as "other" load. */
export const INVOLVED = new Set([
  'ssh',
  'sshd',
  'postgres',
  'pg_dump',
  'pg_restore',
  'psql',
  'cat',
  'sudo',
  'nice',
  'ionice',
  'sh',
  'bash',
  'worker',
  'bench',
  'temporal (bench)',
]);

/** CPU use over (from, to]: the samples taken in that window. */
export function cpuUse(samples: Sample[], from: number, to: number): CpuUse {
  const inside = samples.filter((x) => x.at > from && x.at <= to);
  const first = samples.filter((x) => x.at <= from).at(-1)?.at ?? from;
  const seconds = ((inside.at(-1)?.at ?? to) - first) / 1000;
  const sum: Record<string, number> = {};
  let busy = 0;
  for (const x of inside) {
    busy += x.machineBusy;
    for (const [k, v] of Object.entries(x.ticks)) sum[k] = (sum[k] ?? 0) + v;
  }
  const cores = (t: number): number => Number((t / CLK_TCK / seconds).toFixed(2));
  const byProcess = Object.fromEntries(
    Object.entries(sum)
      .map(([k, v]) => [k, cores(v)] as const)
      .filter(([, v]) => v >= 0.01)
      .sort((a, b) => b[1] - a[1]),
  );
  const other = Object.entries(byProcess)
    .filter(([k]) => !INVOLVED.has(k))
    .reduce((a, [, v]) => a + v, 0);
  return { seconds, machineCores: cores(busy), byProcess, other: Number(other.toFixed(2)) };
}

export const cpuLine = (c: CpuUse): string =>
  `${c.machineCores.toFixed(2)}/${cpus().length} busy; ${Object.entries(c.byProcess)
    .filter(([k]) => INVOLVED.has(k))
    .slice(0, 6)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ')}; other ${c.other.toFixed(2)}`;

// ---- the run --------------------------------------------------------------------------------------

/** A parked step waits for a human forever: poll the status until the run ends or parks (or `until` says so: a gate, say). */
export async function settle(h: WorkflowHandle, until: (v: RunbookView) => boolean = () => false): Promise<RunbookView> {
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  for (;;) {
    const v = await h.query<RunbookView>('status').catch(() => undefined);
    if (v && (['Completed', 'Parked', 'Failed', 'Aborted'].includes(v.status) || until(v))) return v;
    if (Date.now() > deadline) throw new Error(`${h.workflowId} did not finish within ${RUN_TIMEOUT_MS / 60000} min (step: ${v?.currentStep})`);
    await sleep(1000);
  }
}

export function tsMs(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!ts) return NaN;
  return Number(String(ts.seconds ?? 0)) * 1000 + (ts.nanos ?? 0) / 1e6;
}

export function fromPayload<T>(p: Payload | null | undefined): T | undefined {
  return p ? (defaultPayloadConverter.fromPayload(p) as T) : undefined;
}

/** One step's activity as history has it: server times of its last attempt and its result. */
export interface StepActivity<T> {
  startedAt: number;
  completedAt: number;
  scheduledToCloseS: number;
  startedToCloseS: number;
  attempt: number;
  result: T;
}

/** The last completed `activityType` activity of step `step` (its input names the step) in the run's history. */
export async function stepActivity<T>(h: WorkflowHandle, activityType: string, step: string): Promise<StepActivity<T>> {
  const history = await h.fetchHistory();
  const scheduled = new Map<string, number>();
  const started = new Map<string, { at: number; attempt: number }>();
  let last: StepActivity<T> | undefined;
  for (const e of history.events ?? []) {
    const id = String(e.eventId);
    const s = e.activityTaskScheduledEventAttributes;
    if (s && s.activityType?.name === activityType && fromPayload<{ step?: string }>(s.input?.payloads?.[0])?.step === step) {
      scheduled.set(id, tsMs(e.eventTime));
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st && scheduled.has(String(st.scheduledEventId))) started.set(String(st.scheduledEventId), { at: tsMs(e.eventTime), attempt: st.attempt ?? 1 });
    const c = e.activityTaskCompletedEventAttributes;
    if (c && scheduled.has(String(c.scheduledEventId))) {
      const sid = String(c.scheduledEventId);
      const result = fromPayload<T>(c.result?.payloads?.[0]);
      if (result === undefined) throw new Error(`the ${activityType} activity of "${step}" completed without a result`);
      const end = tsMs(e.eventTime);
      const st0 = started.get(sid);
      const begin = st0?.at ?? scheduled.get(sid)!;
      last = {
        startedAt: begin,
        completedAt: end,
        scheduledToCloseS: (end - scheduled.get(sid)!) / 1000,
        startedToCloseS: (end - begin) / 1000,
        attempt: st0?.attempt ?? 1,
        result,
      };
    }
  }
  if (!last) throw new Error(`no completed ${activityType} activity for "${step}" in the history`);
  return last;
}

// ---- the bench's lab, server and LAVA -------------------------------------------------------------

export interface LavaBench {
  lava: LavaInfo;
  grow: ReturnType<typeof growDatabase>;
  inventoryPath: string;
  inventory: Inventory;
  master: InventoryHost;
  store: InventoryHost;
  /** pid of the dev server, for the CPU sampler's roles. */
  devPid?: number;
  client: Client;
  /** Stops the server and the lab (LAVA stays as it is, like after the LAVA tests). */
  close(): Promise<void>;
}

/**
 * A fresh Temporal history (no lease or run of an earlier, interrupted bench is left over), the lab with
 * LAVA taken over and its database grown to the target.
 */
export async function openLavaBench(): Promise<LavaBench> {
  if (!existsSync('build/workers/main.js')) throw new Error('build/workers/main.js is missing: run npx tsc first');
  mkdirSync(root, { recursive: true });
  for (const f of ['temporal.sqlite', 'temporal.sqlite-wal', 'temporal.sqlite-shm']) rmSync(join(root, f), { force: true });
  const [dev, { inventoryPath }] = await Promise.all([startDevServer(server), labUp(lab)]);
  let connection: Connection | undefined;
  const close = async (): Promise<void> => {
    await connection?.close();
    await stopDevServer(dev);
    await labDown(lab);
  };
  try {
    console.log('bench: lavaUp (LAVA is machine-global: this lab takes it over)');
    const lava = await lavaUp(lab);
    const grow = growDatabase(lava.dbName, lava.dbUser);
    console.log(
      `bench: ${lava.dbName} is ${(grow.bytes / GiB).toFixed(3)} GiB (${grow.ballastRows} ballast rows${grow.grownBytes > 0 ? `, grown by ${(grow.grownBytes / GiB).toFixed(3)} GiB in ${grow.seconds.toFixed(0)} s` : ''})`,
    );
    const inventory = loadInventory(inventoryPath);
    connection = await Connection.connect({ address });
    const client = new Client({ connection, namespace: 'default' });
    return { lava, grow, inventoryPath, inventory, master: inventory.hosts[MASTER]!, store: inventory.hosts[STORE]!, devPid: dev.pid, client, close };
  } catch (err) {
    await close();
    throw err;
  }
}
