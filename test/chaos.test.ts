// Chaos: labDrill runs on every lab host at once while the worker process is SIGKILLed, the Temporal
// dev server is restarted (same SQLite file), every SSH link is cut and runs are reset (`temporal workflow
// reset`: the reset run replays to a workflow task of the old one and re-runs every step after it), again
// and again, at whatever
// point each run has reached (between steps, inside a long remote command, inside the one-shot marker
// write, at an open gate, waiting for a lease). Every run must end Completed, or Parked with a true
// description; the hosts' own audit logs must show no one-shot command started twice and every
// completed run's marker written exactly once. Bounded: rounds of five runs (one per host) on its own
// server until every figure is reached (at most eight rounds).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import proto from '@temporalio/proto';
import { startDevServer, stopDevServer, type DevServerOptions } from '../scripts/temporal-server.js';
import type { RunbookView } from '../workflows/engine/messages.js';
import { dropSshSessions, onHost, scratchDir, testEnv, uniqueId, waitFor, type TestEnv } from './harness.js';

// Not sno-node: after sno.test.ts it is a booted ostree node whose sshd lives in its own pid namespace.
const HOSTS = ['lava-master', 'lava-worker', 'backup-store', 'hypervisor', 'cloud-client'];
type Action = 'kill-worker' | 'restart-server' | 'drop-ssh' | 'reset';
/** The rotation of chaos actions, one every ACTION_GAP_MS while a round has unfinished runs. */
const ROTATION: Action[] = ['kill-worker', 'drop-ssh', 'reset', 'kill-worker', 'restart-server', 'drop-ssh', 'kill-worker', 'reset'];
const ACTION_GAP_MS = 3000;
/**
 * Faults per round at most: then the round settles without more. Runs must recover from every fault; a fault
 * every few seconds for ever can starve a run on a slow machine (each worker start bundles the workflows),
 * which would prove nothing about recovery.
 */
const ACTIONS_PER_ROUND = 2 * 8;
/** What the issue asks for at least; rounds go on (at most MAX_ROUNDS) until every figure is reached. */
const WANTED = { killPoints: 20, serverRestarts: 5, sshDropPoints: 10, resets: 6 };
const MAX_ROUNDS = 8;

let env: TestEnv;
let server: ChildProcess;
let serverOpts: DevServerOptions;
let client: Client;
let connection: Connection;
let worker: ChildProcess | undefined;

function startWorkerProcess(): ChildProcess {
  return spawn(process.execPath, ['build/workers/main.js'], {
    env: { ...process.env, TEMPORAL_ADDRESS: `${serverOpts.ip}:${serverOpts.port}`, RUNBOOK_METRICS_PORT: '0', RUNBOOK_LOG_LEVEL: 'ERROR' },
    stdio: 'ignore',
  });
}

async function killWorker(): Promise<void> {
  const w = worker;
  if (w && w.exitCode === null && w.signalCode === null) {
    w.kill('SIGKILL');
    await new Promise((r) => w.once('exit', r));
  }
  worker = startWorkerProcess();
}

before(async () => {
  env = await testEnv(); // the suite's inventory and lab; this file runs its own server below
  const base: DevServerOptions = JSON.parse(process.env.RUNBOOK_TEST_SERVER!);
  serverOpts = { ...base, dbFile: join(scratchDir('chaos'), 'dev.sqlite'), port: base.port + 2, uiPort: base.uiPort + 2 };
  server = await startDevServer(serverOpts);
  connection = await Connection.connect({ address: `${serverOpts.ip}:${serverOpts.port}` });
  client = new Client({ connection });
  worker = startWorkerProcess();
});
after(async () => {
  if (worker && worker.exitCode === null) worker.kill('SIGKILL');
  await connection?.close();
  if (server) await stopDevServer(server);
  await env?.close();
});

/**
 * Resets the run's current execution to one of its completed workflow tasks (the `pick`-th, wrapping), as
 * `temporal workflow reset --event-id` does; returns where, or undefined when the server could not be asked.
 */
async function resetRun(h: WorkflowHandle, pick: number): Promise<string | undefined> {
  try {
    const { events } = await h.fetchHistory();
    const tasks = (events ?? []).filter((e) => e.eventType === proto.temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    if (!tasks.length) return undefined;
    const at = tasks[pick % tasks.length]!;
    const d = await h.describe();
    if (d.status.name !== 'RUNNING') return undefined;
    await client.workflowService.resetWorkflowExecution({
      namespace: 'default',
      workflowExecution: { workflowId: h.workflowId, runId: d.runId },
      workflowTaskFinishEventId: at.eventId,
      requestId: randomUUID(),
      reason: 'chaos: reset',
    });
    return `workflow task ${tasks.indexOf(at) + 1} of ${tasks.length}`;
  } catch {
    return undefined;
  }
}

interface Run {
  h: WorkflowHandle;
  host: string;
  final?: RunbookView;
  /** The run as it was found parked; it is final once the abort decided for it has closed it. */
  parked?: RunbookView;
  /** An approval on its way: a quick step right after the gate answers it only when that step ends. */
  approving?: Promise<unknown>;
}

const statusOf = (h: WorkflowHandle): Promise<RunbookView> => h.query<RunbookView>('status');

/** Where a run is, as a chaos "point": its status plus the step or gate it is at. */
function pointOf(v: RunbookView | undefined): string {
  if (!v) return 'unreachable';
  if (v.openGate) return `gate ${v.openGate.name}`;
  if (v.waitingFor) return 'waiting for a lease';
  return `${v.status}: ${v.currentStep ?? 'start'}`;
}

test('kill -9 of the worker, dev server restarts, cut SSH links and resets at many points: no run lost, no one-shot command twice', async () => {
  const points: Record<Action, string[]> = { 'kill-worker': [], 'restart-server': [], 'drop-ssh': [], reset: [] };
  let restarts = 0;
  const runs: Run[] = [];
  let turn = 0;
  let resetTurn = 0;
  const enough = (): boolean =>
    points['kill-worker'].length >= WANTED.killPoints &&
    restarts >= WANTED.serverRestarts &&
    points['drop-ssh'].length >= WANTED.sshDropPoints &&
    points.reset.length >= WANTED.resets;
  for (let round = 0; round < MAX_ROUNDS && (round < 2 || !enough()); round++) {
    const started: Run[] = [];
    for (const [k, host] of HOSTS.entries()) {
      // Varied shapes so actions land in different places: long read-only holds, slow one-shot marker writes,
      // as activities and as quick (local-activity) steps.
      const input = {
        host,
        steps: 2 + ((k + round) % 3),
        requestedBy: 'alice',
        holdSeconds: k % 2 ? 3 : undefined,
        markerDelaySeconds: k % 3 === 0 ? 3 : undefined,
        // Half the runs write their marker as a quick one-shot step: a local activity under the run key.
        quickOneShots: (k + round) % 2 === 0 ? true : undefined,
      };
      const h = await client.workflow.start('labDrill', { taskQueue: 'runbooks', workflowId: uniqueId(`chaos-${round}-${host}`), args: [input] });
      started.push({ h, host });
    }
    runs.push(...started);
    let lastAction = Date.now();
    let actions = 0;
    const settled = async (): Promise<boolean> => {
      const open = started.filter((r) => !r.final);
      for (const r of open) {
        const v = await statusOf(r.h).catch(() => undefined);
        if (!v) continue;
        if (v.openGate) {
          // Not awaited, so the chaos goes on meanwhile; asked again once an answer (or a loss) came back.
          r.approving ??= r.h
            .executeUpdate('approve', { args: [{ gate: v.openGate.name, approver: 'bob', reason: 'chaos' }] })
            .catch(() => undefined)
            .finally(() => (r.approving = undefined));
        } else if (v.status === 'Parked') {
          // The operator's answer to a parked run here is abort: it frees the host's lease for the next round
          // (a retry would run the one-shot step again on purpose, which is the operator's call, not chaos).
          // Asked again until it lands: a decision lost to a killed worker or a restarting server would leave
          // the run parked with the host's lease, and the next round's run on that host waiting for ever.
          r.parked = v;
          await r.h.executeUpdate('decide', { args: [{ decision: 'abort', operator: 'bob', reason: 'chaos: recorded as parked' }] }).catch(() => undefined);
        } else if (v.status === 'Aborted' && r.parked) r.final = r.parked;
        else if (['Completed', 'Failed', 'Aborted'].includes(v.status)) r.final = v;
      }
      const still = started.filter((r) => !r.final);
      if (still.length === 0) return true;
      if (actions < ACTIONS_PER_ROUND && Date.now() - lastAction >= ACTION_GAP_MS) {
        const action = ROTATION[turn++ % ROTATION.length]!;
        actions++;
        const where = await Promise.all(still.map((r) => statusOf(r.h).then(pointOf, () => 'unreachable')));
        if (action === 'reset') {
          // One run at a time, a different one and a different reset point each turn.
          const k = resetTurn % still.length;
          const to = await resetRun(still[k]!.h, 3 * resetTurn++ + 1);
          if (to) points.reset.push(`${still[k]!.host} ${where[k]} (reset to ${to})`);
        } else points[action].push(...where.map((p, i) => `${still[i]!.host} ${p}`));
        if (action === 'kill-worker') await killWorker();
        else if (action === 'drop-ssh') for (const host of HOSTS) dropSshSessions(host);
        else if (action === 'restart-server') {
          await stopDevServer(server);
          server = await startDevServer(serverOpts);
          restarts++;
        }
        lastAction = Date.now();
      }
      return false;
    };
    await waitFor(`round ${round} to settle`, settled, 300_000).catch(async (err: Error) => {
      // Where each unfinished run stands, so a run that never settles says why.
      const still = started.filter((r) => !r.final);
      const where = await Promise.all(
        still.map(async (r) => {
          const v = await statusOf(r.h).catch(() => undefined);
          const d = await r.h.describe().catch(() => undefined);
          return `${r.h.workflowId} (${d?.status.name ?? '?'}): ${pointOf(v)}${v?.waitingFor ? ` (${v.waitingFor})` : ''}${v?.lastError ? ` last error: ${v.lastError}` : ''}`;
        }),
      );
      throw new Error(`${err.message} after ${actions} faults; unfinished: ${where.join('; ')}`);
    });
  }

  // Every run ended Completed, or Parked with a description an operator can act on.
  const completed = runs.filter((r) => r.final!.status === 'Completed');
  const parked = runs.filter((r) => r.final!.status === 'Parked');
  for (const r of runs) {
    assert.ok(['Completed', 'Parked'].includes(r.final!.status), `${r.h.workflowId}: ${r.final!.status} ${r.final!.lastError ?? ''}`);
    if (r.final!.status === 'Parked') assert.ok(r.final!.parked?.step && r.final!.parked.error.length > 10, `${r.h.workflowId} parked without a description`);
  }
  // The hosts' own records: per host, one-shot run keys of these runs started once; each completed run's marker written once.
  let duplicates = 0;
  let oneShots = 0;
  for (const host of HOSTS) {
    const ids = runs.filter((r) => r.host === host).map((r) => r.h.workflowId);
    const once = onHost(env.inventory, host, `awk -F'\\t' '$3 == "once" {print $2}' ~/.runbooks/audit.log 2>/dev/null || true`)
      .split('\n')
      .filter((k) => ids.some((id) => k.startsWith(`${id}.`)));
    oneShots += once.length;
    duplicates += once.length - new Set(once).size;
    for (const r of completed.filter((c) => c.host === host)) {
      const lines = onHost(env.inventory, host, `wc -l < ~/drill/${r.h.workflowId}.marker`).trim();
      assert.equal(lines, '1', `${r.h.workflowId}: marker written once`);
    }
  }
  const figures = {
    runs: runs.length,
    completed: completed.length,
    parked: parked.length,
    killPoints: points['kill-worker'].length,
    serverRestarts: restarts,
    serverRestartPoints: points['restart-server'].length,
    sshDropPoints: points['drop-ssh'].length,
    resets: points.reset.length,
    distinctPoints: new Set(
      Object.values(points)
        .flat()
        .map((p) => p.replace(/^\S+ /, '')),
    ).size,
    oneShotExecutions: oneShots,
    duplicates,
  };
  console.log(`chaos: ${JSON.stringify(figures)}`);
  console.log(`chaos: kill points ${[...new Set(points['kill-worker'].map((p) => p.replace(/^\S+ /, '')))].join(' | ')}`);
  assert.equal(duplicates, 0, 'no one-shot command ran twice');
  assert.ok(oneShots >= completed.length, 'every completed run ran its one-shot marker step');
  assert.ok(figures.killPoints >= WANTED.killPoints, `worker killed at ${figures.killPoints} points`);
  assert.ok(restarts >= WANTED.serverRestarts, `dev server restarted ${restarts} times`);
  assert.ok(figures.sshDropPoints >= WANTED.sshDropPoints, `SSH cut at ${figures.sshDropPoints} points`);
  assert.ok(figures.resets >= WANTED.resets, `runs reset ${figures.resets} times`);
  console.log(`chaos: resets ${points.reset.join(' | ')}`);
});
