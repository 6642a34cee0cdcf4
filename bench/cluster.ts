// Issue 23 point 4, a production topology: the real Temporal server (scripts/cluster/build-server.sh, not
// the CLI's dev server) on a private PostgreSQL, two production worker processes (build/workers/main.js,
// connected through an envconfig profile), each in a network namespace of its own (bench/netns.ts), the
// lab's sshd hosts. Every approval is signed (the lab approver bob) and verified by the workers. Passes:
//   failover:  CLUSTER_FAILOVER_RUNS (default 10) labDrill runs hold a long step; one worker is SIGKILLed
//              while they hold; every run must end Completed with its one-shot marker written once on its host.
//   partition: the same, but the other worker's link is cut (its veth down) instead: it lives on, unreachable,
//              while its steps time out and go to the first; the link comes back once every run is done.
//   parked:    CLUSTER_PARKED (default 500) runs parked at their gate, all approved (50 in flight); latency
//              approval → marker step started, the workers' RSS.
//   scale:     bench/scale.ts (P3: 5,000 parked, evicted approvals) against this server, its one worker in
//              the first namespace (CLUSTER_SCALE=0 skips it).
// Writes bench/results/cluster.json (and scale-cluster.json). Not a test. Root (namespaces). Ports: server
// 127.0.93.1:7393-7402, PostgreSQL CLUSTER_PG_PORT (5552).
import { onLabHost } from '../scripts/lab/lab-ssh.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { stopChild } from './lava-bench.js';
import { percentile, pool, until } from './load-pacing.js';
import { defaultLabOptions, labDown, labUp } from '../scripts/lab/lab.js';
import { ensurePostgres, stopPostgres, PG_BIN, PG_HOST, type PgLayout } from '../scripts/lab/postgres.js';
import { ensureSearchAttributes, temporalCli } from '../scripts/temporal-server.js';
import { loadInventory } from '../workers/inventory.js';
import { DEFAULT_LOCK_NAMESPACE } from '../workers/config.js';
import type { RunbookView } from '../workflows/engine/messages.js';
import { labTrust } from '../scripts/lab-trust.js';
import { createWorkerNetns, inNetns, removeWorkerNetns, setLink, type WorkerNetns } from './netns.js';
import { signedApproval, type Approver } from './signed-approval.js';

const VERSION = process.env.TEMPORAL_SERVER_VERSION ?? '1.32.1'; // as scripts/cluster/build-server.sh
const FAILOVER_RUNS = Number(process.env.CLUSTER_FAILOVER_RUNS ?? 10);
const PARKED = Number(process.env.CLUSTER_PARKED ?? 500);
const HOLD_SECONDS = 75; // over labDrill's quick-hold limit (60 s): a heartbeating activity, as a real long step is
const PG_PORT = Number(process.env.CLUSTER_PG_PORT ?? 5552);
// Not 127.0.0.1: inside a worker's namespace that address is the namespace's own (bench/netns.ts).
const FRONTEND = { ip: '127.0.93.1', port: 7393 };
const SCALE = process.env.CLUSTER_SCALE !== '0';
const address = `${FRONTEND.ip}:${FRONTEND.port}`;
const HOSTS = ['lava-master', 'lava-worker', 'backup-store', 'hypervisor', 'cloud-client'];
const root = resolve(process.env.BENCH_DATA_ROOT ?? '.data', 'bench-cluster');
const bin = resolve('.data/cluster/bin');
const schema = resolve(`.data/cluster/schema-${VERSION}/postgresql/v12`);
const pg: PgLayout = { pgDir: join(root, 'pg'), pgData: join(root, 'pg', 'data'), pgLog: join(root, 'pg', 'pg.log') };

const summary = (xs: number[]) => ({ p50: percentile(xs, 0.5), p95: percentile(xs, 0.95), max: Math.max(...xs) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sqlTool(db: string, ...args: string[]): void {
  // Trust authentication on loopback (scripts/lab/postgres.ts): no password exists to pass or to commit.
  execFileSync(
    join(bin, `temporal-sql-tool-${VERSION}`),
    ['--plugin', 'postgres12', '--ep', PG_HOST, '-p', String(PG_PORT), '-u', 'postgres', '--db', db, ...args],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
}

function psqlScalar(db: string, sql: string): string {
  return execFileSync(`${PG_BIN}/psql`, ['-h', PG_HOST, '-p', String(PG_PORT), '-U', 'postgres', '-d', db, '-Atc', sql], { encoding: 'utf8' }).trim();
}

/** The schemas of both stores at the module's newest version; update-schema is a no-op on a current one. */
function setupSchemas(): void {
  for (const [db, dir] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ] as const) {
    if (psqlScalar('postgres', `select count(*) from pg_database where datname = '${db}'`) === '0') {
      sqlTool(db, 'create-database');
      sqlTool(db, 'setup-schema', '-v', '0.0');
    }
    sqlTool(db, 'update-schema', '-d', join(schema, dir, 'versioned'));
  }
}

/**
 * The server's config: one cluster, frontend on 7393, the other services beside it. The dynamic config
 * carries what the dev server of CLI 1.9.1 turns on by itself and the runbooks need: Updates (every
 * approval), Worker Versioning with deployments (every worker registers its build), and the
 * search-attribute cache that our dev server gets by flag (a real server has it on by default; said
 * anyway so the two are configured alike).
 */
function writeServerConfig(): string {
  const dir = join(root, 'config');
  mkdirSync(dir, { recursive: true });
  const store = (db: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName: db,
      connectAddr: `${PG_HOST}:${PG_PORT}`,
      connectProtocol: 'tcp',
      user: 'postgres',
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const service = (grpcPort: number, extra: object = {}) => ({ rpc: { grpcPort, membershipPort: grpcPort + 1, bindOnIP: FRONTEND.ip, ...extra } });
  const dynamic = join(dir, 'dynamicconfig.yaml');
  const value = (v: unknown) => [{ value: v, constraints: {} }];
  writeFileSync(
    dynamic,
    stringifyYaml({
      'system.forceSearchAttributesCacheRefreshOnRead': value(false),
      'frontend.enableUpdateWorkflowExecution': value(true),
      'frontend.enableUpdateWorkflowExecutionAsyncAccepted': value(true),
      'frontend.workerVersioningDataAPIs': value(true),
      'frontend.workerVersioningWorkflowAPIs': value(true),
      'system.enableDeploymentVersions': value(true),
      'frontend.namespaceRPS.visibility': value(1000),
    }),
  );
  const config = {
    log: { stdout: true, level: 'warn', format: 'json' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: 4,
      // Four services share PostgreSQL's 100 connections.
      datastores: { default: store('temporal', 16), visibility: store('temporal_visibility', 4) },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: FRONTEND.ip },
      metrics: { prometheus: { framework: 'tally', timerType: 'histogram', listenAddress: `${FRONTEND.ip}:7402` } },
    },
    services: {
      frontend: service(FRONTEND.port, { httpPort: 7395 }),
      history: service(7396),
      matching: service(7398),
      worker: service(7400),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: address } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
    dynamicConfigClient: { filepath: dynamic, pollInterval: '10s' },
  };
  const file = join(dir, 'cluster.yaml');
  writeFileSync(file, stringifyYaml(config));
  return file;
}

function healthy(): boolean {
  try {
    execFileSync(temporalCli, ['operator', 'cluster', 'health', '--address', address], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

async function startServer(configFile: string): Promise<ChildProcess> {
  const server = join(bin, `temporal-server-${VERSION}`);
  if (!existsSync(server)) throw new Error(`${server} is missing: run scripts/cluster/build-server.sh first`);
  const log = openSync(join(root, 'temporal.log'), 'a');
  const child = spawn(server, ['--config-file', configFile, '--allow-no-auth', 'start'], { stdio: ['ignore', log, log] });
  const deadline = Date.now() + 120_000;
  while (!healthy()) {
    if (child.exitCode !== null) throw new Error(`temporal-server exited with ${child.exitCode}; see ${join(root, 'temporal.log')}`);
    if (Date.now() > deadline) throw new Error('temporal-server did not answer within 120 s');
    await sleep(500);
  }
  return child;
}

/** Namespaces `default` and the locks' (the dev server makes them itself) and the runbooks' search attributes, once. */
async function registerNamespace(): Promise<void> {
  const cli = (...a: string[]) =>
    execFileSync(temporalCli, [...a, '--address', address], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  for (const namespace of ['default', DEFAULT_LOCK_NAMESPACE]) {
    try {
      cli('operator', 'namespace', 'describe', '--namespace', namespace);
    } catch {
      cli('operator', 'namespace', 'create', '--namespace', namespace, '--retention', '72h');
    }
  }
  // The frontend's namespace cache learns a new namespace within its refresh interval (about 10 s).
  await until('namespace default usable', async () => (ensureSearchAttributes(address), true), 60_000);
}

/** The envconfig profile both workers and this process's client use: only the address differs from the dev server. */
function writeProfile(): string {
  const file = join(root, 'temporal.toml');
  writeFileSync(file, `[profile.cluster]\naddress = "${address}"\nnamespace = "default"\n`);
  return file;
}

interface WorkerProc {
  name: string;
  ns: WorkerNetns;
  child: ChildProcess;
}

function startWorker(name: string, ns: WorkerNetns, env: NodeJS.ProcessEnv): WorkerProc {
  const log = openSync(join(root, `${name}.log`), 'w'); // this run's only: the bench waits for its start line
  const argv = inNetns(ns.name, [process.execPath, 'build/workers/main.js']);
  const child = spawn(argv[0]!, argv.slice(1), { env: { ...env, RUNBOOK_DATA_DIR: join(root, name) }, stdio: ['ignore', log, log] });
  return { name, ns, child };
}

const workerStarted = (w: WorkerProc) =>
  until(`${w.name} started`, async () => readFileSync(join(root, `${w.name}.log`), 'utf8').includes('"worker started"'), 120_000);

function rssMiB(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

const status = (h: WorkflowHandle): Promise<RunbookView> => h.query<RunbookView>('status');
const msOf = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }): number =>
  Number(String(e.eventTime?.seconds ?? 0)) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

/** sshd's "Accepted publickey … from <address>" lines on every lab host: who really opened the sessions. */
function sessionsFrom(labDir: string, address: string): number {
  let n = 0;
  for (const host of HOSTS) {
    try {
      n += readFileSync(join(labDir, 'hosts', host, 'sshd.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('Accepted publickey') && l.includes(` from ${address} `)).length;
    } catch {
      // a host without a log has had no session
    }
  }
  return n;
}

async function main(): Promise<void> {
  mkdirSync(root, { recursive: true });
  const lab = defaultLabOptions({
    dir: join(root, 'lab'),
    addrBase: process.env.BENCH_LAB_ADDR_BASE ?? '127.0.90',
    pgPort: Number(process.env.BENCH_PG_PORT ?? 5542),
  });
  const t = Date.now();
  const loadAtStart = loadavg().map((x) => Number(x.toFixed(2)));
  const namespaces = [createWorkerNetns('rbw-a', 1), createWorkerNetns('rbw-b', 2)];
  await ensurePostgres(pg, PG_PORT);
  setupSchemas();
  const server = await startServer(writeServerConfig());
  const workers: WorkerProc[] = [];
  try {
    const [{ inventoryPath }] = await Promise.all([labUp(lab), registerNamespace()]);
    const upS = (Date.now() - t) / 1000;
    const inventory = loadInventory(inventoryPath);
    // Approvals as in production: signed by the lab approver bob, verified by the workers against the
    // lab's allowed signers, under the shipped policies (workers/runbooks.yaml, nothing relaxed).
    const trust = labTrust(join(root, 'lab-trust'));
    const bob: Approver = { name: 'bob', key: trust.keys.bob! };
    const profile = writeProfile();
    // Without these the profile is what connects the workers (the environment would win over it).
    const base = { ...process.env };
    for (const k of Object.keys(base)) if (k.startsWith('TEMPORAL_') || k.startsWith('RUNBOOK_')) delete base[k];
    const workerEnv = {
      ...base,
      TEMPORAL_CONFIG_FILE: profile,
      TEMPORAL_PROFILE: 'cluster',
      RUNBOOK_INVENTORY: inventoryPath,
      RUNBOOK_ALLOWED_SIGNERS: trust.allowedSigners,
      RUNBOOK_METRICS_PORT: '0',
      RUNBOOK_LOG_LEVEL: 'WARN',
    };
    workers.push(startWorker('worker-a', namespaces[0]!, workerEnv), startWorker('worker-b', namespaces[1]!, workerEnv));
    await Promise.all(workers.map(workerStarted));
    const connection = await Connection.connect({ address });
    const client = new Client({ connection, namespace: 'default' });
    const approveOpenGate = async (h: WorkflowHandle, reason: string): Promise<void> => {
      const g = (await status(h).catch(() => undefined))?.openGate;
      if (g) await h.executeUpdate('approve', { args: [await signedApproval(h, g, bob, reason)] }).catch(() => undefined);
    };

    /** `n` labDrill runs (one step, then the marker's gate) named prefix + index, spread over the hosts. */
    const startDrills = (prefix: string, n: number, inFlight: number, extra: object = {}) =>
      pool(
        Array.from({ length: n }, (_, i) => i),
        inFlight,
        (i) =>
          client.workflow.start('labDrill', {
            taskQueue: 'runbooks',
            workflowId: `${prefix}${i}`,
            args: [{ host: HOSTS[i % HOSTS.length], steps: 1, requestedBy: 'alice', shareHost: true, ...extra }],
          }),
      );

    /** FAILOVER_RUNS runs hold a long step; `strike` hits one worker while they hold; every run must still end once. */
    const holdPass = async (label: string, strike: () => { victim: WorkerProc; heal?: () => void }) => {
      const t0 = Date.now();
      const runs = await startDrills(`cluster-${label}-${t0}-`, FAILOVER_RUNS, 10, { holdSeconds: HOLD_SECONDS });
      await until(
        `every ${label} run in its hold`,
        async () =>
          (
            await Promise.all(
              runs.map((h) =>
                status(h).then(
                  (v) => v.currentStep === 'hold',
                  () => false,
                ),
              ),
            )
          ).every(Boolean),
        180_000,
      );
      await sleep(5000);
      const { victim, heal } = strike();
      const struckAtS = (Date.now() - t0) / 1000;
      const victimIdentity = `${victim.child.pid}@`;
      const finals = await pool(runs, 10, async (h) => {
        const end = Date.now() + 600_000;
        for (;;) {
          await approveOpenGate(h, `cluster ${label}`);
          const d = await h.describe();
          if (d.status.name !== 'RUNNING') return d.status.name;
          if (Date.now() > end) return 'TIMED_OUT_WAITING';
          await sleep(1000);
        }
      });
      const doneS = (Date.now() - t0) / 1000;
      heal?.();
      let markersOnce = 0;
      let duplicates = 0;
      for (const [i, h] of runs.entries()) {
        const lines = Number(onLabHost(inventory, HOSTS[i % HOSTS.length]!, `wc -l < ~/drill/${h.workflowId}.marker 2>/dev/null || echo 0`).trim());
        if (lines === 1) markersOnce++;
        if (lines > 1) duplicates++;
      }
      const once = HOSTS.flatMap((host) =>
        onLabHost(inventory, host, `awk -F'\\t' '$3 == "once" {print $2}' ~/.runbooks/audit.log 2>/dev/null || true`)
          .split('\n')
          .filter((k) => runs.some((h) => k.startsWith(`${h.workflowId}.`))),
      );
      // Which runs the struck worker was carrying: its identity (pid@host) on an activity of theirs.
      const onVictim = await pool(runs, 10, async (h) => {
        const started = ((await h.fetchHistory()).events ?? []).flatMap((e) =>
          e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes] : [],
        );
        return { carried: started.some((a) => a.identity?.startsWith(victimIdentity)), retried: started.some((a) => (a.attempt ?? 1) > 1) };
      });
      const r = {
        runs: FAILOVER_RUNS,
        holdSeconds: HOLD_SECONDS,
        struck: victim.name,
        struckAtS,
        runsWithAStepOnTheStruckWorker: onVictim.filter((v) => v.carried).length,
        runsWithAStepRetriedOnTheOther: onVictim.filter((v) => v.retried).length,
        completed: finals.filter((s) => s === 'COMPLETED').length,
        finals,
        allDoneAfterStartS: doneS,
        markersWrittenOnce: markersOnce,
        runsWithMarkerTwice: duplicates,
        oneShotStarts: once.length,
        oneShotDuplicates: once.length - new Set(once).size,
      };
      console.log(`${label}: ${JSON.stringify(r)}`);
      return r;
    };

    // --- failover: kill -9 of worker-a; a supervisor would restart it, as here afterwards
    const failover = await holdPass('failover', () => {
      workers[0]!.child.kill('SIGKILL');
      return { victim: workers[0]! };
    });
    workers[0] = startWorker('worker-a2', namespaces[0]!, workerEnv);
    await workerStarted(workers[0]);

    // --- partition: worker-b stays alive but unreachable (server and hosts alike) until every run is done
    const partition = await holdPass('partition', () => {
      setLink(namespaces[1]!, false);
      return { victim: workers[1]!, heal: () => setLink(namespaces[1]!, true) };
    });
    // Back on its link, worker-b polls again (its SSH pool and its gRPC channel reconnect on their own).
    await until(
      'worker-b polling again after the partition',
      async () =>
        (await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: 'runbooks' }, taskQueueType: 1 })).pollers?.some((p) =>
          p.identity?.startsWith(`${workers[1]!.child.pid}@`),
        ) ?? false,
      120_000,
    ).catch(() => undefined); // versioned pollers may not be listed this way; the parked pass shows it

    // --- parked
    const rssStart = Object.fromEntries(workers.map((w) => [w.name, rssMiB(w.child.pid)]));
    const peak: Record<string, number> = { ...rssStart };
    const sampler = setInterval(() => {
      for (const w of workers) peak[w.name] = Math.max(peak[w.name] ?? 0, rssMiB(w.child.pid));
    }, 200);
    const t1 = Date.now();
    const prefix = `cluster-parked-${t1}-`;
    const parked = await startDrills(prefix, PARKED, 50);
    await until(
      `${PARKED} runs at their gate`,
      async () => (await client.workflow.count(`RunbookStatus = "AwaitingApproval" AND WorkflowId STARTS_WITH "${prefix}"`)).count >= PARKED,
      600_000,
    );
    const parkedAfterS = (Date.now() - t1) / 1000;
    const atGate = Object.fromEntries(workers.map((w) => [w.name, rssMiB(w.child.pid)]));
    const sentAt = new Map<string, number>();
    const tApprove = Date.now();
    // As the CLI approves: read the gate (status), sign bob's verdict on it, send the Update.
    await pool(parked, 50, async (h) => {
      const g = (await status(h)).openGate;
      if (!g) throw new Error(`${h.workflowId}: no open gate`);
      sentAt.set(h.workflowId, Date.now());
      await h.executeUpdate('approve', { args: [await signedApproval(h, g, bob, 'cluster bench')] });
    });
    const approvalsSentS = (Date.now() - tApprove) / 1000;
    await pool(parked, 50, (h) => h.result());
    const completedAfterApprovalS = (Date.now() - tApprove) / 1000;
    clearInterval(sampler);
    const latencies = await pool(parked, 20, async (h) => {
      const events = (await h.fetchHistory()).events ?? [];
      const upd = events.findIndex((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
      // The marker step (a one-shot runCommand); the proof's verification comes before it.
      const scheduled = events.slice(upd + 1).find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runCommand');
      const started = events.find((e) => scheduled && String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === String(scheduled.eventId));
      if (upd < 0 || !started) throw new Error(`${h.workflowId}: no update or no next step in history`);
      return { accepted: msOf(started) - msOf(events[upd]!), fromSent: msOf(started) - sentAt.get(h.workflowId)! };
    });
    const sessions = Object.fromEntries(namespaces.map((ns) => [ns.name, { address: ns.address, sshSessions: sessionsFrom(lab.dir, ns.address) }]));
    await connection.close();

    // --- scale (P3) on this server: the cluster's workers stop, so the scale bench's one worker takes every run
    let scale: unknown = 'skipped (CLUSTER_SCALE=0)';
    if (SCALE) {
      for (const w of workers) await stopChild(w.child, 30_000);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        BENCH_TEMPORAL_ADDRESS: address,
        BENCH_WORKER_NETNS: namespaces[0]!.name,
        BENCH_RESULT: 'scale-cluster',
        BENCH_DATA_ROOT: root,
        BENCH_LAB_ADDR_BASE: process.env.CLUSTER_SCALE_LAB_ADDR_BASE ?? '127.0.91',
        BENCH_PG_PORT: process.env.CLUSTER_SCALE_PG_PORT ?? '5543',
      };
      execFileSync(process.execPath, ['--import', './build/scripts/host-script-loader.js', 'build/bench/index.js', 'scale'], { env, stdio: 'inherit' });
      const s = JSON.parse(readFileSync('bench/results/scale-cluster.json', 'utf8'));
      scale = {
        parkedRuns: s.parkedRuns,
        peakRssMiB: s.peakRssMiB,
        evictedApprovalP95Ms: s.evictedApprovalP95Ms,
        evictedApprovalUpdateAloneP95Ms: s.evictedApprovalSentToNextStepMs.updateAlone.p95,
        allParkedAtGateAfterS: s.allParkedAtGateAfterS,
        allCompletedAfterApprovalS: s.allCompletedAfterApprovalS,
        stormSentToNextStepMs: s.stormSentToNextStepMs,
        details: 'bench/results/scale-cluster.json',
      };
    }
    const out = {
      at: new Date().toISOString(),
      machine: '2 vCPU; temporal-server, PostgreSQL, two workers (each in its own network namespace) and the lab hosts on the same machine',
      server: `temporal-server ${VERSION}, postgres12 persistence and visibility (PostgreSQL 15, port ${PG_PORT})`,
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: loadavg().map((x) => Number(x.toFixed(2))),
      upS,
      approvals: 'signed (ssh-keygen -Y sign, lab approver bob), verified by the workers; shipped policies',
      workers: sessions,
      failover,
      partition,
      parked: {
        runs: PARKED,
        workers: workers.map((w) => w.name),
        allAtGateAfterS: parkedAfterS,
        approvalsSentInS: approvalsSentS,
        allCompletedAfterApprovalS: completedAfterApprovalS,
        workerRssMiB: { atStart: rssStart, atGate, peak },
        updateAcceptedToNextStepStartedMs: summary(latencies.map((l) => l.accepted)),
        approvalSentToNextStepStartedMs: summary(latencies.map((l) => l.fromSent)),
      },
      scale,
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/cluster.json', JSON.stringify(out, null, 2));
    console.log(JSON.stringify(out, null, 2));
  } finally {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    server.kill('SIGTERM');
    await new Promise((r) => (server.exitCode !== null ? r(null) : server.once('exit', r)));
    await labDown(lab);
    if (process.env.CLUSTER_KEEP_PG !== '1') await stopPostgres(pg);
    for (const ns of namespaces) removeWorkerNetns(ns.name);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
