// P3, scale: one worker (this process, built like the production worker) carries PARKED runs of labDrill
// waiting at their gate plus RUNNING ones holding a long remote command; BENCH_SINGLE (default 20) parked
// runs are approved one at a time, then all the others at once. Reports completion, the worker's peak RSS,
// and approval → next step latency p50/p95: from the update's acceptance to the next step's activity
// STARTED on the worker (its command under way) in the server's event times, and from the approval's
// sending (client clock, same machine) to that start. Not a test.
// BENCH_PARKED (default 500) and BENCH_RUNNING (default 50) set the sizes.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { defaultLabOptions, labDown, labUp } from '../scripts/lab/lab.js';
import { startDevServer, stopDevServer } from '../scripts/temporal-server.js';
import { loadWorkerConfig } from '../workers/config.js';
import { loadInventory } from '../workers/inventory.js';
import { promoteOnStart } from '../workers/deployment.js';
import { createRunbookWorker } from '../workers/runbook-worker.js';
import type { RunbookView } from '../workflows/engine/messages.js';

const PARKED = Number(process.env.BENCH_PARKED ?? 500);
const RUNNING = Number(process.env.BENCH_RUNNING ?? 50);
/** Approved one at a time before the others are approved at once. */
const SINGLE = Math.min(PARKED, Number(process.env.BENCH_SINGLE ?? 20));
const HOSTS = ['lava-master', 'lava-worker', 'backup-store', 'hypervisor', 'cloud-client'];
// Overridable (like scripts/test.ts) so two benches, or a bench beside a test suite, can share a machine.
const root = process.env.BENCH_DATA_ROOT ? join(process.env.BENCH_DATA_ROOT, 'bench-scale') : join(process.cwd(), '.data', 'bench-scale');

const pct = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
const summary = (xs: number[]): { p50: number; p95: number; max: number } => ({ p50: pct(xs, 0.5), p95: pct(xs, 0.95), max: Math.max(...xs) });

/** Runs `f` over `items` with at most `n` in flight. */
async function pool<T, R>(items: T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = {
    dbFile: join(root, 'temporal.sqlite'),
    ip: '127.0.0.1',
    port: Number(process.env.BENCH_TEMPORAL_PORT ?? 7273),
    uiPort: Number(process.env.BENCH_TEMPORAL_UI_PORT ?? 8273),
    logFile: join(root, 'temporal.log'),
  };
  const lab = defaultLabOptions({
    dir: join(root, 'lab'),
    addrBase: process.env.BENCH_LAB_ADDR_BASE ?? '127.0.70',
    pgPort: Number(process.env.BENCH_PG_PORT ?? 5492),
  });
  mkdirSync(root, { recursive: true });
  // A fresh history database: the counts below are of this run's workflows only.
  for (const f of ['temporal.sqlite', 'temporal.sqlite-wal', 'temporal.sqlite-shm']) rmSync(join(root, f), { force: true });
  const [dev, { inventoryPath }] = await Promise.all([startDevServer(server), labUp(lab)]);
  const address = `${server.ip}:${server.port}`;
  try {
    const inventory = loadInventory(inventoryPath);
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    const nc = await NativeConnection.connect({ address });
    const config = { ...loadWorkerConfig(), dataDir: join(root, 'data') };
    const { worker, close, version } = await createRunbookWorker({ connection: nc, namespace: 'default', config, inventory, client: () => client });
    // Sampled from here on: the process's lifetime peak (VmHWM) would include webpack bundling the workflows.
    const rssAtStart = process.memoryUsage().rss / 1024 / 1024;
    let rssPeak = rssAtStart;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss / 1024 / 1024)), 200);
    const t0 = Date.now();
    const result = await worker.runUntil(async () => {
      await promoteOnStart(client, version, 'always'); // the bench's build is the one new runs start on
      const start = (i: number, input: object): Promise<WorkflowHandle> =>
        client.workflow.start('labDrill', {
          taskQueue: 'runbooks',
          workflowId: `scale-${t0}-${i}`,
          args: [{ host: HOSTS[i % HOSTS.length], requestedBy: 'alice', shareHost: true, ...input }],
        });
      const parked = await pool(
        Array.from({ length: PARKED }, (_, i) => i),
        50,
        (i) => start(i, { steps: 1 }),
      );
      const running = await pool(
        Array.from({ length: RUNNING }, (_, i) => PARKED + i),
        50,
        (i) => start(i, { steps: 1, holdSeconds: 120 }),
      );
      await until(
        `${PARKED} runs at their gate`,
        async () => {
          const n = (await client.workflow.count('RunbookStatus = "AwaitingApproval"')).count;
          return n >= PARKED;
        },
        600_000,
      );
      const parkedAfterMs = Date.now() - t0;
      // What the parked runs themselves cost: RSS and JS heap with all of them cached, before the approvals.
      const mem = process.memoryUsage();
      const atGate = { rssMiB: Math.round(mem.rss / 2 ** 20), heapUsedMiB: Math.round(mem.heapUsed / 2 ** 20) };
      // When each approval left the operator's side.
      const sentAt = new Map<string, number>();
      const approve = (h: WorkflowHandle): Promise<unknown> => {
        sentAt.set(h.workflowId, Date.now());
        return h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob', reason: 'scale bench' }] });
      };
      // First SINGLE approvals, one at a time, each once the previous run has finished: what an SRE sees
      // approving one gate on a worker that carries all the others parked.
      const single = parked.slice(0, SINGLE);
      for (const h of single) {
        await approve(h);
        await h.result();
      }
      // Then the rest at once, 50 in flight (as from a busy CLI or UI).
      const storm = parked.slice(SINGLE);
      const tApprove = Date.now();
      await pool(storm, 50, approve);
      const approvedInMs = Date.now() - tApprove;
      await pool(storm, 50, (h) => h.result());
      const completedAfterApprovalMs = Date.now() - tApprove;
      // Approval → next step, from the server's event times.
      const latencies = await pool(parked, 20, async (h) => {
        const events = (await h.fetchHistory()).events ?? [];
        // The update is accepted when the worker takes it; the marker step's activity is scheduled in that
        // task and started when a worker slot takes it (the event is written at completion, with that time).
        const upd = events.findIndex((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
        const scheduled = events.slice(upd + 1).find((e) => e.activityTaskScheduledEventAttributes);
        const started = events.slice(upd + 1).find((e) => e.activityTaskStartedEventAttributes);
        if (upd < 0 || !scheduled || !started) throw new Error(`${h.workflowId}: no update or no next step in history`);
        const ms = (e: (typeof events)[number]): number => Number(String(e.eventTime?.seconds ?? 0)) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
        // Same machine, same clock: the approval's sending (client) → the step started (server event).
        return { started: ms(started) - ms(events[upd]!), scheduled: ms(scheduled) - ms(events[upd]!), fromSent: ms(started) - sentAt.get(h.workflowId)! };
      });
      const runningStates = await pool(running, 25, async (h) => (await h.query<RunbookView>('status')).status);
      for (const h of running) await h.terminate('bench done');
      return {
        parkedAfterMs,
        atGate,
        approvedInMs,
        completedAfterApprovalMs,
        latencies,
        runningStillRunning: runningStates.filter((s) => s === 'Running').length,
      };
    });
    clearInterval(sampler);
    close();
    await nc.close();
    await connection.close();
    const out = {
      at: new Date().toISOString(),
      machine: 'lab loopback hosts, 2 vCPU, dev server (SQLite) on the same machine',
      parked: PARKED,
      running: RUNNING,
      allParkedAtGateAfterS: result.parkedAfterMs / 1000,
      approvalsSentInS: result.approvedInMs / 1000,
      allCompletedAfterApprovalS: result.completedAfterApprovalMs / 1000,
      runningRunsStillRunning: result.runningStillRunning,
      workerRssAtStartMiB: Math.round(rssAtStart),
      workerAtGate: result.atGate,
      maxCachedWorkflows: config.maxCachedWorkflows,
      workerPeakRssMiB: Math.round(rssPeak),
      maxConcurrentActivities: config.maxConcurrentActivities,
      approvalToNextStepStartedMs: summary(result.latencies.map((l) => l.started)),
      approvalToNextStepScheduledMs: summary(result.latencies.map((l) => l.scheduled)),
      singleApprovals: SINGLE,
      // latencies are in `parked` order: the first SINGLE were approved one at a time.
      singleApprovalSentToNextStepStartedMs: summary(result.latencies.slice(0, SINGLE).map((l) => l.fromSent)),
      stormApprovalSentToNextStepStartedMs: summary(result.latencies.slice(SINGLE).map((l) => l.fromSent)),
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/scale.json', JSON.stringify(out, null, 2));
    console.log(JSON.stringify(out, null, 2));
    console.log(
      `\n${PARKED} parked + ${RUNNING} running on one worker: all ${PARKED} completed ${out.allCompletedAfterApprovalS.toFixed(1)} s after the approvals began; peak RSS ${out.workerPeakRssMiB} MiB (target < 1024); approval → next step started p50 ${out.approvalToNextStepStartedMs.p50.toFixed(0)} ms, p95 ${out.approvalToNextStepStartedMs.p95.toFixed(0)} ms (target p95 < 250; scheduled: p95 ${out.approvalToNextStepScheduledMs.p95.toFixed(0)} ms). From the approval's sending: one at a time p50 ${out.singleApprovalSentToNextStepStartedMs.p50.toFixed(0)} ms, p95 ${out.singleApprovalSentToNextStepStartedMs.p95.toFixed(0)} ms; the other ${PARKED - SINGLE} at once (50 in flight) p50 ${out.stormApprovalSentToNextStepStartedMs.p50.toFixed(0)} ms, p95 ${out.stormApprovalSentToNextStepStartedMs.p95.toFixed(0)} ms`,
    );
  } finally {
    await stopDevServer(dev);
    await labDown(lab);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
