// Host leases and resets against the real dev server and lab hosts, through labDrill: locks live in their
// own namespace on one internal task queue (a worker gone with its queue strands nothing), are keyed by the machine's pinned
// host key (two inventory names for one machine exclude each other), shared store leases run together,
// and a `temporal workflow reset` neither repeats a one-shot step nor loses its lease.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import { leaseLockId } from '../activities/runbook/admin.js';
import type { Inventory } from '../workers/inventory.js';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { onHost, status, testEnv, uniqueId, waitFor, type TestEnv } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
afterEach(async () => env?.endRuns());
after(async () => env?.close());

const approve = (h: WorkflowHandle): Promise<unknown> => h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob' }] });
const atGate = async (h: WorkflowHandle): Promise<boolean> => (await status(h)).status === 'AwaitingApproval';
type LockView = { holders?: { workflowId: string; mode?: string; namespace?: string }[]; waiters: { workflowId: string }[] };
const lockOf = (host: string, inventory: Inventory = env.inventory): Promise<LockView> =>
  env.locks.workflow.getHandle(leaseLockId(inventory, host)).query<LockView>('lease');

/** `temporal workflow reset` to the workflow task that finished at `eventId`; returns the new run's handle. */
async function resetTo(h: WorkflowHandle, eventId: proto.temporal.api.history.v1.IHistoryEvent['eventId'], reason: string): Promise<WorkflowHandle> {
  const { runId } = await env.client.workflowService.resetWorkflowExecution({
    namespace: 'default',
    workflowExecution: { workflowId: h.workflowId, runId: (await h.describe()).runId },
    workflowTaskFinishEventId: eventId,
    requestId: randomUUID(),
    reason: `test: ${reason}`,
  });
  return env.client.workflow.getHandle(h.workflowId, runId ?? undefined);
}

/** `temporal workflow reset --type FirstWorkflowTask`: a new run from the first workflow task. */
async function resetToFirstWorkflowTask(h: WorkflowHandle): Promise<WorkflowHandle> {
  const { events } = await h.fetchHistory();
  const first = events!.find((e) => e.eventType === proto.temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)!;
  return resetTo(h, first.eventId, 'reset to the first workflow task');
}

describe('host leases', () => {
  test("locks live in a namespace of their own: the runbooks' namespace lists runbooks only", async () => {
    const HOST = 'hypervisor';
    const w = await env.startWorker();
    try {
      const run = await env.start('labDrill', uniqueId('drill-lock-namespace'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the run at its gate', () => atGate(run));
      const lock = leaseLockId(env.inventory, HOST);
      const holders = (await lockOf(HOST)).holders ?? [];
      assert.deepEqual(
        holders.map((h) => [h.workflowId, h.namespace]),
        [[run.workflowId, 'default']],
        'the lock, in the locks namespace, holds the run and knows its namespace',
      );
      const running = async (c: typeof env.client): Promise<string[]> => {
        const ids: string[] = [];
        for await (const x of c.workflow.list({ query: 'WorkflowType = "hostLease" AND ExecutionStatus = "Running"' })) ids.push(x.workflowId);
        return ids;
      };
      await waitFor('the lock in the locks namespace list', async () => (await running(env.locks)).includes(lock));
      assert.deepEqual(await running(env.client), [], 'no lock in the runbooks namespace');
      await approve(run);
      assert.equal(((await run.result()) as RunbookResult).status, 'Completed');
    } finally {
      await w.stop();
    }
  });

  test('a lock taken by a run on a queue whose workers are gone does not block a run on another queue', async () => {
    const HOST = 'hypervisor';
    const queue = uniqueId('rb-gone');
    const gone = await env.startWorker({ config: { taskQueue: queue } });
    const first = await env.client.workflow.start('labDrill', {
      taskQueue: queue,
      workflowId: uniqueId('drill-gone'),
      args: [{ host: HOST, steps: 1, requestedBy: 'alice' }],
    });
    await waitFor('the first run at its gate', () => atGate(first));
    await approve(first);
    assert.equal(((await first.result()) as RunbookResult).status, 'Completed');
    await gone.stop(); // its queue has no worker from now on
    const w = await env.startWorker();
    try {
      const second = await env.start('labDrill', uniqueId('drill-other-queue'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the run on the other queue to get the host', () => atGate(second));
      await approve(second);
      assert.equal(((await second.result()) as RunbookResult).status, 'Completed');
    } finally {
      await w.stop();
    }
  });

  test('a run terminated while it holds the host: the next run to ask gets it at once (the lock looks at its holders when a waiter asks)', async () => {
    const HOST = 'cloud-client';
    const w = await env.startWorker();
    try {
      const gone = await env.start('labDrill', uniqueId('drill-terminated-holder'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the first run at its gate, holding the host', () => atGate(gone));
      // As an operator does from the Web UI: terminated, so it never gives the host back itself.
      await gone.terminate('test: a holder that never releases');
      const next = await env.start('labDrill', uniqueId('drill-after-terminated'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the next run to get the host', () => atGate(next), 150_000);
      // Why it got it: in the lock's history the check of its holders follows the new run's request before
      // any timer fired. Before, holders were only checked after a quiet minute, which its own asking again
      // (once a minute) kept putting off.
      const events = (await env.locks.workflow.getHandle(leaseLockId(env.inventory, HOST)).fetchHistory()).events!;
      const asked = events.findIndex(
        (e) =>
          e.workflowExecutionSignaledEventAttributes?.signalName === 'acquire' &&
          Buffer.from(e.workflowExecutionSignaledEventAttributes.input?.payloads?.[0]?.data ?? [])
            .toString()
            .includes(next.workflowId),
      );
      assert.ok(asked >= 0, "the next run's request is in the lock's history");
      const checked = events.findIndex((e, i) => i > asked && e.activityTaskScheduledEventAttributes?.activityType?.name === 'isWorkflowOpen');
      assert.ok(checked > asked, 'the lock checked its holders after the request');
      const timers = events.slice(asked, checked).filter((e) => e.timerFiredEventAttributes).length;
      assert.equal(timers, 0, 'the check came with the request, not after a timer');
      await approve(next);
      assert.equal(((await next.result()) as RunbookResult).status, 'Completed');
    } finally {
      await w.stop();
    }
  });

  test('two inventory names for one machine exclude each other (the lock is keyed by its host key)', async () => {
    const HOST = 'cloud-client';
    const ALIAS = 'cloud-client-by-ip';
    const inventory: Inventory = { ...env.inventory, hosts: { ...env.inventory.hosts, [ALIAS]: env.inventory.hosts[HOST]! } };
    assert.equal(leaseLockId(inventory, ALIAS), leaseLockId(inventory, HOST));
    const w = await env.startWorker({ inventory });
    try {
      const first = await env.start('labDrill', uniqueId('drill-name'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the first at its gate', () => atGate(first));
      const second = await env.start('labDrill', uniqueId('drill-alias'), { host: ALIAS, steps: 1, requestedBy: 'alice' });
      const seen = await waitFor('the run by the other name to wait or reach its gate', async () => {
        const v = await status(second);
        return (v.status === 'AwaitingApproval' || v.waitingFor?.includes(first.workflowId)) && v;
      });
      assert.equal(seen.status, 'Running', `the second name reached its gate while the first holds the machine: ${seen.waitingFor}`);
      assert.equal(seen.stepsDone, 0);
      assert.deepEqual(
        (await lockOf(ALIAS, inventory)).waiters.map((x) => x.workflowId),
        [second.workflowId],
      );
      await approve(first);
      await first.result();
      await waitFor('the second to get the machine', () => atGate(second));
      await approve(second);
      assert.equal(((await second.result()) as RunbookResult).status, 'Completed');
    } finally {
      await w.stop();
    }
  });

  test('shared leases on a store path run together; an exclusive lease on the store waits for them all', async () => {
    const HOST = 'backup-store';
    const w = await env.startWorker();
    try {
      const shared = { host: HOST, steps: 1, requestedBy: 'alice', storePath: '/data/backup' };
      const a = await env.start('labDrill', uniqueId('drill-shared-a'), shared);
      const b = await env.start('labDrill', uniqueId('drill-shared-b'), shared);
      await waitFor('both shared holders at their gates at once', async () => (await atGate(a)) && (await atGate(b)));
      assert.deepEqual((await lockOf(HOST)).holders?.map((x) => x.mode).sort(), ['shared', 'shared']);
      const exclusive = await env.start('labDrill', uniqueId('drill-exclusive'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the exclusive run to queue', async () => (await lockOf(HOST)).waiters.some((x) => x.workflowId === exclusive.workflowId));
      await approve(a);
      await a.result();
      assert.equal((await status(exclusive)).stepsDone, 0, 'one shared holder is still in');
      await approve(b);
      await b.result();
      await waitFor('the exclusive run to get the store', () => atGate(exclusive));
      await approve(exclusive);
      assert.equal(((await exclusive.result()) as RunbookResult).status, 'Completed');
    } finally {
      await w.stop();
    }
  });
});

describe('resets', () => {
  test('a run reset while it waits in line (after it asked for the host, before the grant) still gets the host once it is free', async () => {
    const HOST = 'cloud-client';
    const w = await env.startWorker();
    try {
      const holder = await env.start('labDrill', uniqueId('drill-holds'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the holder at its gate', () => atGate(holder));
      const waiting = await env.start('labDrill', uniqueId('drill-in-line'), { host: HOST, steps: 1, requestedBy: 'alice' });
      // Reset to a workflow task after its request for the host: the request is history the reset run replays, not sends.
      const T = proto.temporal.api.enums.v1.EventType;
      const last = await waitFor('the second run in line, its request for the host answered', async () => {
        const { events } = await waiting.fetchHistory();
        const request = events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'requestLease');
        if (!request || !(await status(waiting)).waitingFor) return undefined;
        const asked = events!.findIndex(
          (e) =>
            e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED &&
            Number(e.activityTaskCompletedEventAttributes?.scheduledEventId) === Number(request.eventId),
        );
        return asked > 0 ? events!.filter((e, n) => n > asked && e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).pop() : undefined;
      });
      const reset = await resetTo(waiting, last.eventId, 'reset while in line');
      await approve(holder);
      assert.equal(((await holder.result()) as RunbookResult).status, 'Completed');
      // Before the fix the lock granted the host to the run before the reset (gone), dropped the grant, and the
      // reset run waited for ever.
      await waitFor('the reset run to get the host', () => atGate(reset), 180_000);
      await approve(reset);
      assert.equal(((await reset.result()) as RunbookResult).status, 'Completed');
      assert.equal((await lockOf(HOST)).holders?.length ?? 0, 0, 'the lease was released');
    } finally {
      await w.stop();
    }
  });

  test('a run reset at its gate, after its lease was granted, replays the grant and completes (the chaos test found it stuck)', async () => {
    const HOST = 'lava-worker';
    const w = await env.startWorker();
    try {
      const original = await env.start('labDrill', uniqueId('drill-reset-granted'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the run at its gate, the lease granted', () => atGate(original));
      // The reset point after the grant: the reset run replays the grant, addressed to the run before it. The
      // old handler counted a grant only for workflowInfo().runId, which the reset changed: the replay took
      // another path than the run that lived it (nondeterminism, the run stuck).
      const T = proto.temporal.api.enums.v1.EventType;
      const { events } = await original.fetchHistory();
      const last = events!.filter((e) => e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).pop()!;
      const reset = await resetTo(original, last.eventId, 'reset at the gate');
      await waitFor('the reset run at its gate', () => atGate(reset), 90_000);
      // It replayed its grant: nothing after the reset point asked the lock again (the old code waited a
      // minute there, the grant not counted, then asked again).
      const after = (await reset.fetchHistory()).events!.filter((e) => Number(e.eventId) > Number(last.eventId));
      assert.deepEqual(
        after
          .flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []))
          .filter((n) => n === 'requestLease'),
        [],
      );
      await approve(reset);
      assert.equal(((await reset.result()) as RunbookResult).status, 'Completed');
      assert.equal((await lockOf(HOST)).holders?.length ?? 0, 0, 'the lease was released');
    } finally {
      await w.stop();
    }
  });

  test('a labDrill reset to its first workflow task gets its lease, writes the marker once and completes; a second reset after completion repeats nothing', async () => {
    const HOST = 'sno-node';
    const w = await env.startWorker();
    try {
      const id = uniqueId('drill-reset');
      const marker = (): number => Number(onHost(env.inventory, HOST, `cat ~/drill/${id}.marker 2>/dev/null | wc -l`).trim());
      const hostStarts = (): number => Number(onHost(env.inventory, HOST, `grep -c '${id}\\.' ~/.runbooks/audit.log || true`).trim());
      const original = await env.start('labDrill', id, { host: HOST, steps: 2, requestedBy: 'alice' });
      await waitFor('the first run at its gate (holding the lease)', () => atGate(original));
      // Reset while the run holds the host: the reset run must be granted the lease the run before it held.
      const reset1 = await resetToFirstWorkflowTask(original);
      await waitFor('the reset run at its gate', () => atGate(reset1), 60_000);
      await approve(reset1);
      assert.equal(((await reset1.result()) as RunbookResult).status, 'Completed');
      assert.equal(marker(), 1);
      assert.equal(hostStarts(), 1, 'one run-key start on the host');
      // Reset past the marker step: the step finds the earlier key and reports its result instead of running.
      const reset2 = await resetToFirstWorkflowTask(reset1);
      const v = await waitFor('the second reset run at its gate or done', async () => {
        const s = await status(reset2);
        return (s.status === 'AwaitingApproval' || s.status === 'Completed') && s;
      });
      if (v.status === 'AwaitingApproval') await approve(reset2);
      const r = (await reset2.result()) as RunbookResult;
      assert.equal(r.status, 'Completed');
      assert.equal(marker(), 1, 'the marker was written once across three runs');
      assert.equal(hostStarts(), 1, 'still one run-key start on the host');
      const step = r.steps.find((s) => s.name === 'write marker');
      console.log(`reset twice: marker lines ${marker()}, host starts ${hostStarts()}, last step ${JSON.stringify(step?.state)}`);
      assert.equal((await lockOf(HOST)).holders?.length ?? 0, 0, 'the lease was released');
    } finally {
      await w.stop();
    }
  });
});
