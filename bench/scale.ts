// P3, scale: one worker (the production worker process, build/workers/main.js, so that its RSS is its own and
// not this client's with its 5,050 handles and fetched histories) carries PARKED runs of labDrill
// waiting at their gate plus RUNNING ones holding a long remote command, with its workflow cache bounded
// (BENCH_CACHE, default the shipped worker's maxCachedWorkflows), so most parked runs are evicted and are
// replayed from their history when their approval arrives. Approvals are signed as `runbook approve`
// signs them (the lab approver bob's key) and verified by the worker, as in production.
// Measured: the worker's RSS; single approvals of EVICTED runs, one at a time, from the sending to the next
// step's activity STARTED (server event time; same machine, same clock), for runs parked behind 1, 25, 100
// and 200 steps (replay grows with history length): once with the gate already read (the Update alone,
// which replays the run), once as the CLI does it (status query, which replays the run, then sign, then
// Update); then all the others approved at once, 50 in flight; and, offline, the replay cost per run of
// each history length (Worker.runReplayHistories over the parked runs' own histories). Not a test.
// BENCH_PARKED (default 5000), BENCH_RUNNING (default 50), BENCH_CACHE set the sizes. BENCH_TEMPORAL_ADDRESS
// runs it against a server already up (the cluster bench's temporal-server) instead of its own dev server,
// BENCH_WORKER_NETNS puts the worker in that network namespace, BENCH_RESULT names the result file.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { procStatus, startWorker, stopChild } from './lava-bench.js';
import { percentile, pool, until } from './load-pacing.js';
import { defaultLabOptions, labDown, labUp } from '../scripts/lab/lab.js';
import { labTrust } from '../scripts/lab-trust.js';
import { startDevServer, stopDevServer } from '../scripts/temporal-server.js';
import { loadWorkerConfig } from '../workers/config.js';
import { bundleWorkflows } from '../workers/workflow-bundle.js';
import type { GateView, RunbookView } from '../workflows/engine/messages.js';
import { openGate, signedApproval as signed } from './signed-approval.js';

const PARKED = Number(process.env.BENCH_PARKED ?? 5000);
const RUNNING = Number(process.env.BENCH_RUNNING ?? 50);
/** Steps before the gate of the probe runs: how an evicted run's replay grows with its history. */
const LENGTHS = [1, 25, 100, 200];
/** Probe runs per length and per way of approving (Update alone; query, sign, Update). */
const PROBES = Number(process.env.BENCH_PROBES ?? 10);
const HOSTS = ['lava-master', 'lava-worker', 'backup-store', 'hypervisor', 'cloud-client'];
const GATE = 'write-marker';
// Overridable (like scripts/test.ts) so two benches, or a bench beside a test suite, can share a machine.
const root = process.env.BENCH_DATA_ROOT ? join(process.env.BENCH_DATA_ROOT, 'bench-scale') : join(process.cwd(), '.data', 'bench-scale');

const summary = (xs: number[]): { n: number; p50: number; p95: number; max: number } => ({
  n: xs.length,
  p50: Math.round(percentile(xs, 0.5)),
  p95: Math.round(percentile(xs, 0.95)),
  max: Math.round(Math.max(...xs)),
});
const sh = promisify(execFile);
/** A server already up (the cluster bench's), or this bench's own dev server. */
const EXTERNAL_ADDRESS = process.env.BENCH_TEMPORAL_ADDRESS;
const WORKER_NETNS = process.env.BENCH_WORKER_NETNS;
const RESULT = process.env.BENCH_RESULT ?? 'scale';

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
  const loadAtStart = loadavg();
  const [dev, { inventoryPath }] = await Promise.all([EXTERNAL_ADDRESS ? undefined : startDevServer(server), labUp(lab)]);
  const address = EXTERNAL_ADDRESS ?? `${server.ip}:${server.port}`;
  try {
    const trust = labTrust(join(root, 'lab-trust'));
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    const shipped = loadWorkerConfig();
    const cache = Number(process.env.BENCH_CACHE ?? shipped.maxCachedWorkflows ?? 500);
    const config = { maxConcurrentActivities: shipped.maxConcurrentActivities };
    // The bench's own copy, for the offline replay of the probes' histories.
    const bundle = await bundleWorkflows();
    const metricsPort = Number(process.env.BENCH_METRICS_PORT ?? 9474);
    // Ready once its build is current (RUNBOOK_PROMOTE=always): the runs below start on it.
    const worker = await startWorker(
      inventoryPath,
      join(root, 'worker.log'),
      metricsPort,
      {
        RUNBOOK_DATA_DIR: join(root, 'data'),
        RUNBOOK_MAX_CACHED_WORKFLOWS: String(cache),
        RUNBOOK_ALLOWED_SIGNERS: trust.allowedSigners,
        RUNBOOK_PROMOTE: 'always',
      },
      { address, dataDir: join(root, 'data'), ready: /"msg":"build wf-[0-9a-f]+: /, netns: WORKER_NETNS },
    );
    const pid = worker.pid!;
    // The peak from here on (VmHWM reset: the start's webpack bundling is not what is measured), and sampled.
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const rss = (): number => (procStatus(pid).VmRSS ?? 0) / 2 ** 20;
    const rssAtStart = rss();
    let rssPeak = rssAtStart;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rss())), 200);
    /** Runs in the worker's cache now, from its Prometheus metrics. */
    const cachedRuns = async (): Promise<number> => {
      const url = `http://127.0.0.1:${metricsPort}/metrics`;
      // A worker in its own namespace serves its metrics on that namespace's loopback.
      const text = WORKER_NETNS ? (await sh('ip', ['netns', 'exec', WORKER_NETNS, 'curl', '-fsS', url])).stdout : await (await fetch(url)).text();
      const m = /^temporal_sticky_cache_size\{namespace="default"[^}]*task_queue="runbooks"[^}]*\} (\d+)/m.exec(text);
      return m ? Number(m[1]) : NaN;
    };
    const t0 = Date.now();

    const bob = { name: 'bob', key: trust.keys.bob! };
    const signedApproval = (h: WorkflowHandle, g: GateView): Promise<object> => signed(h, g, bob, 'scale bench');
    const gateOf = (h: WorkflowHandle): Promise<GateView> => openGate(h, GATE);

    const result = await (async () => {
      let seq = 0;
      const start = (input: object): Promise<WorkflowHandle> => {
        const i = seq++;
        return client.workflow.start('labDrill', {
          taskQueue: 'runbooks',
          workflowId: `scale-${t0}-${i}`,
          args: [{ host: HOSTS[i % HOSTS.length], requestedBy: 'alice', shareHost: true, bareSteps: true, ...input }],
        });
      };
      // The probes first: the oldest runs, so every later run pushes them out of the cache.
      const probes: { steps: number; way: 'update' | 'cli'; h: WorkflowHandle; gate?: GateView }[] = [];
      for (const steps of LENGTHS)
        for (const way of ['update', 'cli'] as const) for (let k = 0; k < PROBES; k++) probes.push({ steps, way, h: await start({ steps }) });
      // The Update-alone probes' gates are read while they are still cached (an operator who read the
      // gate earlier); the CLI probes read theirs at approval time, which replays them.
      await until(
        'the probes at their gate',
        async () => (await client.workflow.count(`RunbookStatus = "AwaitingApproval" AND WorkflowId STARTS_WITH "scale-${t0}-"`)).count >= probes.length,
        600_000,
      );
      for (const p of probes) if (p.way === 'update') p.gate = await gateOf(p.h);
      const filler = await pool(
        Array.from({ length: Math.max(0, PARKED - probes.length) }, (_, i) => i),
        50,
        () => start({ steps: 1 }),
      );
      const running = await pool(
        Array.from({ length: RUNNING }, (_, i) => i),
        50,
        () => start({ steps: 1, holdSeconds: 3600 }),
      );
      await until(
        `${PARKED} runs at their gate`,
        async () => (await client.workflow.count(`RunbookStatus = "AwaitingApproval" AND WorkflowId STARTS_WITH "scale-${t0}-"`)).count >= PARKED,
        1_800_000,
      );
      const parkedAfterMs = Date.now() - t0;
      const atGate = { rssMiB: Math.round(rss()), cachedRuns: await cachedRuns() };

      // Offline replay of each length's parked history (one worker for all, as the SDK's replayer does):
      // the gap between consecutive results is one history's replay.
      const replayMs: Record<number, { events: number; ms: ReturnType<typeof summary> }> = {};
      for (const steps of LENGTHS) {
        const p = probes.find((q) => q.steps === steps)!;
        const history = await p.h.fetchHistory();
        // Kept for profiling the replay (node --cpu-prof over Worker.runReplayHistory of this file).
        writeFileSync(join(root, `parked-${steps}-steps.history.json`), historyToJSON(history));
        const times: number[] = [];
        const ROUNDS = 20;
        async function* histories(): AsyncIterable<{ workflowId: string; history: typeof history }> {
          for (let r = 0; r < ROUNDS; r++) yield { workflowId: p.h.workflowId, history };
        }
        let last = performance.now();
        for await (const r of Worker.runReplayHistories({ workflowBundle: bundle }, histories())) {
          if (r.error) throw r.error;
          const now = performance.now();
          times.push(now - last);
          last = now;
        }
        replayMs[steps] = { events: history.events?.length ?? 0, ms: summary(times.slice(1)) }; // the first includes the replay worker's start
      }

      // Single approvals of evicted runs, one at a time, each once the previous run has finished.
      const sentAt = new Map<string, number>();
      for (const p of probes) {
        if (p.way === 'update') {
          const args = await signedApproval(p.h, p.gate!);
          sentAt.set(p.h.workflowId, Date.now());
          await p.h.executeUpdate('approve', { args: [args] });
        } else {
          sentAt.set(p.h.workflowId, Date.now());
          await p.h.executeUpdate('approve', { args: [await signedApproval(p.h, await gateOf(p.h))] });
        }
        await p.h.result();
      }
      const cachedAfterSingles = await cachedRuns();
      // Then the rest at once, 50 in flight (as from a busy CLI or UI), each as the CLI does it.
      const tApprove = Date.now();
      await pool(filler, 50, async (h) => {
        sentAt.set(h.workflowId, Date.now());
        await h.executeUpdate('approve', { args: [await signedApproval(h, await gateOf(h))] });
      });
      const approvedInMs = Date.now() - tApprove;
      await pool(filler, 50, (h) => h.result());
      const completedAfterApprovalMs = Date.now() - tApprove;
      // Approval → next step, from the server's event times.
      const latency = async (h: WorkflowHandle): Promise<{ fromAccepted: number; fromSent: number }> => {
        const events = (await h.fetchHistory()).events ?? [];
        const upd = events.findIndex((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
        // The marker step (a one-shot `runCommand`; the proof's verification is an activity before it).
        // Its STARTED event is written at completion, with the start's time.
        const scheduled = events.slice(upd + 1).find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runCommand');
        const started = events.find((e) => scheduled && String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === String(scheduled.eventId));
        if (upd < 0 || !started) throw new Error(`${h.workflowId}: no update or no next step in history`);
        const ms = (e: (typeof events)[number]): number => Number(String(e.eventTime?.seconds ?? 0)) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
        return { fromAccepted: ms(started) - ms(events[upd]!), fromSent: ms(started) - sentAt.get(h.workflowId)! };
      };
      const probeLatency = await pool(probes, 10, (p) => latency(p.h));
      const stormLatency = await pool(filler, 20, latency);
      const runningStates = await pool(running, 25, async (h) => (await h.query<RunbookView>('status')).status);
      for (const h of running) await h.terminate('bench done');
      const byProbe = (way: 'update' | 'cli', steps?: number): number[] =>
        probes.flatMap((p, i) => (p.way === way && (steps === undefined || p.steps === steps) ? [probeLatency[i]!.fromSent] : []));
      return {
        parkedAfterMs,
        atGate,
        cachedAfterSingles,
        replayMs,
        evicted: Object.fromEntries(
          LENGTHS.map((steps) => [
            steps,
            { events: replayMs[steps]!.events, updateAlone: summary(byProbe('update', steps)), cliPath: summary(byProbe('cli', steps)) },
          ]),
        ),
        evictedUpdateAlone: summary(byProbe('update')),
        evictedCliPath: summary(byProbe('cli')),
        approvedInMs,
        completedAfterApprovalMs,
        stormFromSent: summary(stormLatency.map((l) => l.fromSent)),
        stormFromAccepted: summary(stormLatency.map((l) => l.fromAccepted)),
        runningStillRunning: runningStates.filter((s) => s === 'Running').length,
      };
    })();
    clearInterval(sampler);
    const hwm = (procStatus(pid).VmHWM ?? 0) / 2 ** 20;
    await stopChild(worker);
    await connection.close();
    const out = {
      at: new Date().toISOString(),
      machine: `lab loopback hosts, 2 vCPU, ${EXTERNAL_ADDRESS ? `the server at ${EXTERNAL_ADDRESS}` : 'dev server (SQLite)'} on the same machine${WORKER_NETNS ? `, the worker in network namespace ${WORKER_NETNS}` : ''}`,
      loadAverageAtStart: loadAtStart.map((x) => Number(x.toFixed(2))),
      loadAverageAtEnd: loadavg().map((x) => Number(x.toFixed(2))),
      parkedRuns: PARKED,
      running: RUNNING,
      maxCachedWorkflows: cache,
      maxConcurrentActivities: config.maxConcurrentActivities,
      allParkedAtGateAfterS: result.parkedAfterMs / 1000,
      workerRssAtStartMiB: Math.round(rssAtStart),
      workerAtGate: result.atGate,
      // The worker process's own: the larger of the 200 ms samples and the kernel's high-water mark.
      peakRssMiB: Math.round(Math.max(rssPeak, hwm)),
      cachedRunsAfterSingleApprovals: result.cachedAfterSingles,
      // The figure of the issue: one approval of an evicted run as an operator sends it with our CLI
      // (status query, sign, Update), sent → next step started, all history lengths together.
      evictedApprovalP95Ms: result.evictedCliPath.p95,
      evictedApprovalSentToNextStepMs: { cliPath: result.evictedCliPath, updateAlone: result.evictedUpdateAlone, byStepsBeforeGate: result.evicted },
      replayPerRunMs: result.replayMs,
      stormApprovals: PARKED - probesCount(),
      approvalsSentInS: result.approvedInMs / 1000,
      allCompletedAfterApprovalS: result.completedAfterApprovalMs / 1000,
      stormSentToNextStepMs: result.stormFromSent,
      stormAcceptedToNextStepMs: result.stormFromAccepted,
      runningRunsStillRunning: result.runningStillRunning,
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/${RESULT}.json`, JSON.stringify(out, null, 2));
    console.log(JSON.stringify(out, null, 2));
    console.log(
      `\n${PARKED} parked + ${RUNNING} running on one worker (cache ${cache}): peak RSS ${out.peakRssMiB} MiB (target < 1024); an evicted run's approval, sent → next step started: p50 ${out.evictedApprovalSentToNextStepMs.cliPath.p50} ms, p95 ${out.evictedApprovalP95Ms} ms as the CLI sends it (target p95 < 250), Update alone p95 ${out.evictedApprovalSentToNextStepMs.updateAlone.p95} ms; replay of one parked run: ${LENGTHS.map((s) => `${result.replayMs[s]!.events} events ${result.replayMs[s]!.ms.p50} ms`).join(', ')}; the other ${out.stormApprovals} approved at once (50 in flight): all completed ${out.allCompletedAfterApprovalS.toFixed(1)} s after the first`,
    );
  } finally {
    if (dev) await stopDevServer(dev);
    await labDown(lab);
  }
}

function probesCount(): number {
  return LENGTHS.length * 2 * PROBES;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
