// A real LAVA master on its own lab (127.0.40.x, PostgreSQL on 5462), checked over ssh to lava-master
// the way the LAVA backup and restore runbooks will use it. LAVA itself is machine-global: this test
// takes it over from whichever lab owned it (see scripts/lab/lava-owner.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { defaultLabOptions, labDown, labUp } from '../scripts/lab/lab.js';
import { labLayout } from '../scripts/lab/layout.js';
import { lavaDown, lavaStatus, lavaUp, type LavaInfo } from '../scripts/lab/lava.js';
import { daemonPid } from '../scripts/lab/lava-daemons.js';
import { labTarget, runSsh, type SshTarget } from '../scripts/lab/ssh-client.js';
import { waitFor } from '../scripts/lab/wait.js';

const ROOT = process.cwd();
const PG_PORT = 5462;
await mkdir(path.join(ROOT, '.data', 'lava-test'), { recursive: true });
const DIR = await mkdtemp(path.join(ROOT, '.data', 'lava-test', 'lab-'));
const opts = defaultLabOptions({ dir: DIR, addrBase: '127.0.40', pgPort: PG_PORT });

let master: SshTarget;
let info: LavaInfo;

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, Math.round(performance.now() - t0)];
}

/** A command on lava-master as the runbooks run it: rbops over ssh, sudo -n for root. */
function onMaster(command: string, timeoutMs = 60000) {
  return runSsh(master, command, timeoutMs);
}

before(async () => {
  const [, labMs] = await timed(() => labUp(opts));
  const lab = labLayout(opts);
  const host = lab.hosts.find((h) => h.name === 'lava-master');
  assert.ok(host);
  master = labTarget(lab, host, opts.port);
  const [i, lavaMs] = await timed(() => lavaUp(opts));
  info = i;
  console.log(`labUp ${labMs} ms, cold lavaUp ${lavaMs} ms`);
});

after(async () => {
  await lavaDown(opts);
  await labDown(opts);
  await rm(DIR, { recursive: true, force: true });
});

test('lavaUp reports the seeded master', () => {
  assert.match(info.version, /^2023\.01/);
  assert.equal(info.dbName, 'lavaserver');
  assert.equal(info.dbUser, 'lavaserver');
  assert.ok(info.devices.includes('qemu01') && info.devices.includes('qemu02'), info.devices.join(','));
  assert.ok(info.workers.includes('lava-worker-1'), info.workers.join(','));
  assert.ok(info.jobs >= 3, `jobs: ${info.jobs}`);
});

test('warm lavaUp is fast and restarts nothing', async (t) => {
  const before = await Promise.all((['lava-server-gunicorn', 'lava-publisher', 'lava-scheduler', 'lava-worker'] as const).map(daemonPid));
  const [again, ms] = await timed(() => lavaUp(opts));
  t.diagnostic(`warm lavaUp: ${ms} ms`);
  assert.deepEqual(again, info);
  const afterPids = await Promise.all((['lava-server-gunicorn', 'lava-publisher', 'lava-scheduler', 'lava-worker'] as const).map(daemonPid));
  assert.deepEqual(afterPids, before);
  assert.ok(before.every((p) => p !== undefined));
  const st = await lavaStatus(opts);
  assert.deepEqual(st, {
    daemons: { 'lava-server-gunicorn': true, 'lava-publisher': true, 'lava-scheduler': true, 'lava-worker': true },
    database: true,
  });
});

test('devices list on lava-master shows qemu01 and qemu02', async () => {
  const r = await onMaster('sudo -n lava-server manage devices list');
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /^\* qemu01 \(qemu\) /m);
  assert.match(r.stdout, /^\* qemu02 \(qemu\) /m);
});

test('service lava-scheduler status/stop/start behave like an LSB init script', async () => {
  let r = await onMaster('sudo -n service lava-scheduler status');
  assert.equal(r.exitCode, 0, `${r.stdout} ${r.stderr}`);
  r = await onMaster('sudo -n service lava-scheduler stop');
  assert.equal(r.exitCode, 0, `${r.stdout} ${r.stderr}`);
  r = await onMaster('sudo -n service lava-scheduler status');
  assert.equal(r.exitCode, 3, `${r.stdout} ${r.stderr}`);
  r = await onMaster('sudo -n service lava-scheduler start');
  assert.equal(r.exitCode, 0, `${r.stdout} ${r.stderr}`);
  r = await onMaster('sudo -n service lava-scheduler status');
  assert.equal(r.exitCode, 0, `${r.stdout} ${r.stderr}`);
});

test('check --deploy passes on lava-master', async () => {
  // The scheduler was just restarted; check --deploy finds it in /proc at once, but allow a bounded retry.
  const r = await waitFor(
    'check --deploy to pass',
    async () => {
      const c = await onMaster('sudo -n lava-server manage check --deploy');
      return c.exitCode === 0 ? c : false;
    },
    { timeoutMs: 60000, intervalMs: 500 },
  );
  assert.equal(r.exitCode, 0);
});

test('the worker is online', async () => {
  const r = await waitFor(
    'lava-worker-1 to be Online',
    async () => {
      const c = await onMaster('sudo -n lava-server manage workers details lava-worker-1');
      return /^state\s*: Online$/m.test(c.stdout) ? c : false;
    },
    { timeoutMs: 60000, intervalMs: 500 },
  );
  assert.match(r.stdout, /hostname\s*: lava-worker-1/);
});

test('pg_dump as lavaserver (password from ~lavaserver/.pgpass) holds the seeded jobs', async () => {
  const pgpass = await onMaster('sudo -n stat -c "%a %U" /var/lib/lava-server/home/.pgpass');
  assert.equal(pgpass.stdout.trim(), '600 lavaserver');
  const r = await onMaster(`sudo -n -u lavaserver pg_dump -h 127.0.0.1 -p ${PG_PORT} lavaserver`);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /^COPY public\.lava_scheduler_app_testjob /m);
  for (const n of [1, 2, 3]) assert.ok(r.stdout.includes(`runbooks lab seed job ${n}`), `job ${n} missing from dump`);
});

test('database settings point at this lab and stay private', async () => {
  const r = await onMaster(
    'sudo -n stat -c "%a %U" /etc/lava-server/settings.d/00-database.yaml && sudo -n grep -E "^    (NAME|USER|HOST|PORT):" /etc/lava-server/settings.d/00-database.yaml',
  );
  assert.equal(r.exitCode, 0, r.stderr);
  const [mode, ...keys] = r.stdout.split('\n');
  assert.equal(mode, '640 lavaserver');
  assert.deepEqual(keys, ['    NAME: "lavaserver"', '    USER: "lavaserver"', '    HOST: "127.0.0.1"', `    PORT: ${PG_PORT}`]);
  const token = await onMaster(
    'sudo -n stat -c "%a %U" /var/lib/lava/dispatcher/worker/token && grep -E "^(URL|TOKEN|WORKER_NAME)=" /etc/lava-dispatcher/lava-worker',
  );
  assert.equal(token.exitCode, 0, token.stderr);
  assert.deepEqual(token.stdout.split('\n'), [
    '600 root',
    'WORKER_NAME="--name lava-worker-1"',
    'URL="http://127.0.0.1:8000/"',
    'TOKEN="--token-file /var/lib/lava/dispatcher/worker/token"',
  ]);
});

test('nothing of LAVA listens beyond loopback', async () => {
  const r = await onMaster('ss -ltn');
  assert.equal(r.exitCode, 0, r.stderr);
  const listeners = r.stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[3] ?? '')
    .filter((a) => /:(8000|8001|5500)$/.test(a));
  assert.deepEqual(listeners.sort(), ['127.0.0.1:5500', '127.0.0.1:8000', '127.0.0.1:8001']);
});

test('every finished job has its output.yaml', async () => {
  const jobs = await onMaster('sudo -n lava-server manage jobs list --state FINISHED');
  assert.equal(jobs.exitCode, 0, jobs.stderr);
  const ids = [...jobs.stdout.matchAll(/^\* .* - (\d+)@/gm)].map((m) => m[1]);
  assert.ok(ids.length >= 3, jobs.stdout);
  const files = await onMaster('sudo -n find /var/lib/lava-server/default/media/job-output -name output.yaml');
  assert.equal(files.exitCode, 0, files.stderr);
  for (const id of ids) {
    assert.match(files.stdout, new RegExp(`^/var/lib/lava-server/default/media/job-output/\\d{4}/\\d{2}/\\d{2}/${id}/output\\.yaml$`, 'm'), `job ${id}`);
  }
});
