// A real LAVA master (lava-server 2023.01 from Debian) as an opt-in lab service, reached as lava-master.
// Runbooks see what they would see on a real master: `sudo lava-server manage ...`,
// `sudo service lava-scheduler stop|start|status`, a lavaserver database for pg_dump, files under
// /etc/lava-server and /var/lib/lava-server/default/media/job-output/. Call lavaUp after labUp.
//
// The packages and files are the machine's (lab hosts share its filesystem), so one lab owns LAVA at
// a time and another lab's lavaUp takes it over: see lava-owner.ts. The daemons are started with
// `sudo service NAME start` over ssh to lava-master, exactly as a runbook would, so they run in that
// host's namespaces (hostname lava-master) and labDown's sweep of the host ends them too.
import { LAB_HOSTS, labStatus } from './lab.js';
import { labLayout, mkdirMode, validateLabOptions, type LabLayout, type LabOptions } from './layout.js';
import { withLabLock } from './lab-lock.js';
import { labTarget, runSsh } from './ssh-client.js';
import { pgReady } from './postgres.js';
import { waitFor } from './wait.js';
import { lavaManage } from './lava-manage.js';
import { ensureLavaPackages, lavaVersion } from './lava-package.js';
import {
  ensureDatabaseSettings,
  ensureRoleAndDatabase,
  migrateLava,
  psqlAsPostgres,
  readDatabaseSettings,
  schemaPresent,
  type LavaDatabase,
} from './lava-database.js';
import {
  LAVA_DAEMONS,
  LAVA_HTTP,
  LAVA_RUN_DIR,
  daemonOutputTail,
  daemonPid,
  daemonsRunning,
  initScript,
  stopDaemons,
  writeInitScripts,
  type LavaDaemon,
} from './lava-daemons.js';
import { seedLava } from './lava-seed.js';
import { readOwner, sameOwner, writeOwner, type LavaOwner } from './lava-owner.js';

export interface LavaInfo {
  version: string;
  dbName: string;
  dbUser: string;
  devices: string[];
  workers: string[];
  jobs: number;
}

const LAVA_HOST = 'lava-master' satisfies (typeof LAB_HOSTS)[number];
const HTTP_TIMEOUT_MS = 120000;
const CHECK_TIMEOUT_MS = 120000;

export async function lavaUp(opts: LabOptions): Promise<LavaInfo> {
  validateLabOptions(opts);
  const lab = labLayout(opts);
  const st = await labStatus(opts);
  if (!st.up) {
    throw new Error(
      `the lab in ${lab.dir} is not up (lava-master ${st.hosts[LAVA_HOST] ? 'up' : 'down'}, postgres ${st.postgres ? 'up' : 'down'}); run labUp first`,
    );
  }
  await mkdirMode(LAVA_RUN_DIR, 0o755);
  // Machine-wide lock: two labs' lavaUp at once would rewrite the same settings under each other.
  return withLabLock(LAVA_RUN_DIR, () => up(opts, lab));
}

async function up(opts: LabOptions, lab: LabLayout): Promise<LavaInfo> {
  await ensureLavaPackages();
  const owner: LavaOwner = { dir: lab.dir, pgPort: opts.pgPort, version: await lavaVersion() };
  const handover = !sameOwner(await readOwner(), owner);
  // Daemons of the previous owner (or of an older version) talk to the old database: stop them first.
  if (handover) await stopDaemons();

  const { db, changed } = await ensureDatabaseSettings(opts.pgPort);
  if (changed) await stopDaemons();
  const created = await ensureRoleAndDatabase(db);
  if (handover || changed || created || !(await schemaPresent(db))) await migrateLava();
  await writeOwner(owner);

  await writeInitScripts();
  const seed = await seedLava(db, `http://${LAVA_HTTP.host}:${LAVA_HTTP.port}/`);
  if (seed.tokenChanged && (await daemonPid('lava-worker')) !== undefined) {
    const r = await initScript('lava-worker', 'stop');
    if (r.exitCode !== 0) throw new Error(`lava-worker stop failed: ${r.stdout} ${r.stderr}`);
  }

  await startDaemons(lab, opts);
  await waitForHttp();
  await waitForDeployCheck();
  return info(db, seed.devices, seed.workers, seed.jobs, owner.version);
}

function info(db: LavaDatabase, devices: string[], workers: string[], jobs: number, version: string): LavaInfo {
  return { version, dbName: db.name, dbUser: db.user, devices, workers, jobs };
}

function lavaMasterTarget(lab: LabLayout, opts: LabOptions) {
  const host = lab.hosts.find((h) => h.name === LAVA_HOST);
  if (!host) throw new Error(`no ${LAVA_HOST} in the lab`);
  return labTarget(lab, host, opts.port);
}

async function startDaemons(lab: LabLayout, opts: LabOptions): Promise<void> {
  const target = lavaMasterTarget(lab, opts);
  for (const name of LAVA_DAEMONS) {
    if ((await daemonPid(name)) !== undefined) continue;
    const r = await runSsh(target, `sudo -n service ${name} start`, 60000);
    if (r.exitCode !== 0) {
      throw new Error(`sudo service ${name} start on ${LAVA_HOST} failed (rc=${r.exitCode}): ${r.stdout} ${r.stderr}\n${await daemonOutputTail(name)}`);
    }
  }
}

/** A daemon that died after its start is reported with its output instead of waiting out the deadline. */
async function assertDaemonsAlive(): Promise<void> {
  const running = await daemonsRunning();
  const dead = (Object.keys(running) as LavaDaemon[]).filter((n) => !running[n]);
  if (dead.length > 0) {
    const tails = await Promise.all(dead.map(async (n) => `${n}:\n${await daemonOutputTail(n)}`));
    throw new Error(`LAVA daemon(s) exited after start: ${dead.join(', ')}\n${tails.join('\n')}`);
  }
}

async function waitForHttp(): Promise<void> {
  const url = `http://${LAVA_HTTP.host}:${LAVA_HTTP.port}/api/v0.2/`;
  await waitFor(
    `gunicorn to answer ${url}`,
    async () => {
      await assertDaemonsAlive();
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        return res.status < 500;
      } catch {
        return false;
      }
    },
    { timeoutMs: HTTP_TIMEOUT_MS, intervalMs: 200 },
  );
}

/** `check --deploy` looks for the four daemons in /proc and validates every device dictionary. */
async function waitForDeployCheck(): Promise<void> {
  let last = '';
  await waitFor(
    'lava-server manage check --deploy to pass',
    async () => {
      await assertDaemonsAlive();
      const r = await lavaManage(['check', '--deploy'], { timeoutMs: 60000 });
      last = `${r.stdout}\n${r.stderr}`.trim();
      if (r.exitCode === 0) return true;
      // Only "daemon is not active" can go away by waiting (a daemon still starting); any other error is final.
      const final = deployCheckErrors(last).filter((l) => !l.startsWith('lava daemons:') && !l.startsWith('lava services:'));
      if (final.length > 0) throw new Error('lava-server manage check --deploy failed with errors that waiting cannot fix');
      return false;
    },
    { timeoutMs: CHECK_TIMEOUT_MS, intervalMs: 500 },
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; last output:\n${last.slice(-3000)}`);
  });
}

/** The lines of the ERRORS: section of Django's check output. */
function deployCheckErrors(output: string): string[] {
  const lines = output.split('\n');
  const start = lines.findIndex((l) => l.trim() === 'ERRORS:');
  if (start < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (/^(WARNINGS|INFOS):$/.test(l.trim()) || /^System check identified/.test(l)) break;
    if (l.trim() !== '') out.push(l.trim());
  }
  return out;
}

export async function lavaDown(opts: LabOptions): Promise<void> {
  const lab = labLayout(opts);
  const owner = await readOwner();
  // Another lab's LAVA (or none) is not ours to stop.
  if (owner?.dir !== lab.dir) return;
  await mkdirMode(LAVA_RUN_DIR, 0o755);
  await withLabLock(LAVA_RUN_DIR, async () => {
    if ((await readOwner())?.dir === lab.dir) await stopDaemons();
  });
}

export async function lavaStatus(opts: LabOptions): Promise<{ daemons: Record<string, boolean>; database: boolean }> {
  const lab = labLayout(opts);
  const owner = await readOwner();
  const ours = owner?.dir === lab.dir && owner.pgPort === opts.pgPort;
  const running = await daemonsRunning();
  const daemons: Record<string, boolean> = {};
  for (const n of LAVA_DAEMONS) daemons[n] = ours && running[n];
  return { daemons, database: ours && (await databaseReady(opts.pgPort)) };
}

/** LAVA's settings point at this port and the database there has LAVA's schema. */
async function databaseReady(port: number): Promise<boolean> {
  const db = await readDatabaseSettings();
  if (!db || db.port !== port || !(await pgReady(port))) return false;
  try {
    const n = await psqlAsPostgres(port, `SELECT count(*) FROM pg_database WHERE datname = '${db.name.replaceAll("'", "''")}';`);
    return n === '1' && (await schemaPresent(db));
  } catch {
    return false;
  }
}

export { LAVA_DAEMONS } from './lava-daemons.js';
