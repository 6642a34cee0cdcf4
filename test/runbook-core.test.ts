// The runbook core against the real dev server and lab hosts, through labDrill: gates and who may pass
// them, the durable signal path, parking and operator decisions, dry runs, cancellation, host leases.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { leaseLockId } from '../activities/runbook/admin.js';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { failureOf, onHost, refusedUpdate, status, testEnv, uniqueId, waitFor, type TestEnv } from './harness.js';
import { saveHistory } from './history-files.js';

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
afterEach(async () => env?.endRuns());
after(async () => env?.close());

const HOST = 'lava-worker';
const count = (path: string): number => Number(onHost(env.inventory, HOST, `cat ${path} 2>/dev/null | wc -l`).trim());

describe('approval gates', () => {
  test('a gated run waits, is found by RunbookStatus, refuses wrong approvers, proceeds on a listed approver', async () => {
    const w = await env.startWorker();
    try {
      const workflowId = uniqueId('drill-gate');
      const h = await env.start('labDrill', workflowId, { host: HOST, steps: 3, requestedBy: 'alice' });
      const view = await waitFor('the gate to open', async () => {
        const v = await status(h);
        return v.status === 'AwaitingApproval' && v;
      });
      assert.equal(view.openGate?.name, 'write-marker');
      assert.equal(view.stepsDone, 3);
      assert.ok(
        view.openGate!.plan.some((l) => l.includes('drill')),
        'the gate shows the commands it guards',
      );
      assert.equal(count(`drill/${workflowId}.marker`), 0, 'nothing dangerous ran before approval');

      await waitFor('the visibility query to find it', async () => {
        const ids: string[] = [];
        for await (const x of env.client.workflow.list({ query: `RunbookStatus = "AwaitingApproval" AND RunbookGate = "write-marker"` }))
          ids.push(x.workflowId);
        return ids.includes(workflowId);
      });

      // What the Web UI shows: handler descriptions for its dropdowns, and the current-details markdown.
      const meta = await h.query<{
        definition: { updateDefinitions: { name: string; description?: string }[]; signalDefinitions: { name: string; description?: string }[] };
        currentDetails: string;
      }>('__temporal_workflow_metadata');
      const described = (defs: { name: string; description?: string }[]): string[] =>
        defs
          .filter((d) => d.description)
          .map((d) => d.name)
          .sort();
      assert.deepEqual(described(meta.definition.updateDefinitions), ['approve', 'decide', 'reject']);
      assert.ok(['approval', 'decision'].every((n) => described(meta.definition.signalDefinitions).includes(n)));
      assert.match(meta.currentDetails, /Gate `write-marker` awaits approval/);
      assert.ok(meta.currentDetails.includes(view.openGate!.fingerprint));
      assert.ok(meta.currentDetails.includes(`npx runbook approve ${workflowId} --gate write-marker --reason`));
      assert.ok(meta.currentDetails.includes(`"workflowId": "${workflowId}", "gate": "write-marker"`), 'the Update body for the Web UI');

      const byStranger = await refusedUpdate(h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'mallory', reason: 'x' }] }));
      assert.match(byStranger, /"mallory" is not allowed/);
      const byRequester = await refusedUpdate(h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'alice', reason: 'x' }] }));
      assert.match(byRequester, /four-eyes/);
      const wrongGate = await refusedUpdate(h.executeUpdate('approve', { args: [{ gate: 'drop-database', approver: 'bob' }] }));
      assert.match(wrongGate, /no such open gate "drop-database"/);
      const stale = await refusedUpdate(h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob', fingerprint: '0'.repeat(64) }] }));
      assert.match(stale, /stale plan/);

      const rec = await h.executeUpdate('approve', {
        args: [{ gate: 'write-marker', approver: 'bob', reason: 'drill', fingerprint: view.openGate!.fingerprint }],
      });
      assert.equal((rec as { verdict: string }).verdict, 'approved');
      const res = (await h.result()) as RunbookResult;
      assert.equal(res.status, 'Completed');
      assert.deepEqual(
        res.approvals.map((a) => [a.approver, a.verdict, a.via, a.fingerprint]),
        [['bob', 'approved', 'update', view.openGate!.fingerprint]],
      );
      assert.equal(count(`drill/${workflowId}.marker`), 1, 'the marker was written exactly once');
      assert.deepEqual([res.steps.length, (await status(h)).audit.commands, (await status(h)).audit.failed], [4, 4, 0]);
      // Every verdict is recorded: the four refused ones as ignored, with why (issue 18).
      const updates = (await h.fetchHistory()).events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
      assert.equal(updates.length, 5);
      assert.equal((await status(h)).ignored.length, 4);
      await saveHistory(h, 'labDrill-approved');
    } finally {
      await w.stop();
    }
  });

  test('a signal approval sent while no worker is up takes effect when a worker comes back', async () => {
    let w = await env.startWorker();
    const workflowId = uniqueId('drill-signal');
    const h = await env.start('labDrill', workflowId, { host: HOST, steps: 1, requestedBy: 'alice' });
    await waitFor('the gate', async () => (await status(h)).status === 'AwaitingApproval');
    await w.stop();
    // No worker: an Update could not be accepted now, the signal is stored by the server.
    await h.signal('approval', { gate: 'write-marker', approver: 'mallory', reason: 'not allowed' });
    await h.signal('approval', { gate: 'write-marker', approver: 'carol', reason: 'approved during the outage' });
    assert.equal(count(`drill/${workflowId}.marker`), 0);
    w = await env.startWorker();
    try {
      const res = (await h.result()) as RunbookResult;
      assert.equal(res.status, 'Completed');
      assert.deepEqual(
        res.approvals.map((a) => [a.approver, a.via]),
        [['carol', 'signal']],
      );
      assert.equal(count(`drill/${workflowId}.marker`), 1);
      await saveHistory(h, 'labDrill-signal-approved');
    } finally {
      await w.stop();
    }
  });
});

describe('parking and decisions', () => {
  test('a failing one-shot step is not retried, parks, and "retry" runs it exactly once more', async () => {
    const w = await env.startWorker();
    try {
      const workflowId = uniqueId('drill-park');
      const h = await env.start('labDrill', workflowId, { host: HOST, steps: 3, failAt: 2, requestedBy: 'alice' });
      const parked = await waitFor('the run to park', async () => {
        const v = await status(h);
        return v.status === 'Parked' && v;
      });
      assert.equal(parked.parked?.step, 'flaky step 2');
      assert.match(parked.parked!.error, /exit 3: first execution fails on purpose/);
      assert.equal(count(`drill/${workflowId}.count`), 1, 'not retried automatically');
      const found: string[] = [];
      for await (const x of env.client.workflow.list({ query: `RunbookStatus = "Parked"` })) found.push(x.workflowId);
      assert.ok(found.includes(workflowId));

      await refusedUpdate(h.executeUpdate('decide', { args: [{ decision: 'explode', operator: 'bob' }] }));
      await h.executeUpdate('decide', { args: [{ decision: 'retry', operator: 'bob', reason: 'fixed the cause' }] });
      await waitFor('the gate after the retry', async () => (await status(h)).status === 'AwaitingApproval');
      assert.equal(count(`drill/${workflowId}.count`), 2, 'retry ran the step exactly once more');
      await h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'carol' }] });
      const res = (await h.result()) as RunbookResult;
      assert.equal(res.status, 'Completed');
      assert.equal(res.steps.find((s) => s.name === 'flaky step 2')?.state, 'ok');
      await saveHistory(h, 'labDrill-parked-retried');
    } finally {
      await w.stop();
    }
  });

  test('"abort" on a parked run ends it as failed with the reason, and releases the host', async () => {
    const w = await env.startWorker();
    try {
      const h = await env.start('labDrill', uniqueId('drill-abort'), { host: HOST, steps: 1, failAt: 1, requestedBy: 'alice' });
      await waitFor('the run to park', async () => (await status(h)).status === 'Parked');
      await h.signal('decision', { decision: 'abort', operator: 'bob', reason: 'host is being replaced' });
      const f = await failureOf(h);
      assert.equal(f.type, 'Aborted');
      assert.match(f.message, /bob aborted at step "flaky step 1": host is being replaced/);
      const lease = await env.locks.workflow.getHandle(leaseLockId(env.inventory, HOST)).query<{ holder?: { workflowId: string } }>('lease');
      assert.notEqual(lease.holder?.workflowId, h.workflowId, 'lease released');
    } finally {
      await w.stop();
    }
  });
});

describe('plans, cancellation, leases', () => {
  test('dryRun returns the plan with exact commands and changes nothing on the host', async () => {
    const w = await env.startWorker();
    try {
      const workflowId = uniqueId('drill-dry');
      const h = await env.start('labDrill', workflowId, { host: HOST, steps: 2, failAt: 2, requestedBy: 'alice', dryRun: true });
      const res = (await h.result()) as RunbookResult;
      await saveHistory(h, 'labDrill-dry-run');
      assert.equal(res.dryRun, true);
      assert.match(res.fingerprint!, /^[0-9a-f]{64}$/);
      assert.deepEqual(
        res.plan!.map((p) => [p.kind, p.name, p.effect]),
        [
          ['step', 'harmless step 1', 'read-only'],
          ['step', 'flaky step 2', 'once'],
          ['gate', 'write-marker', undefined],
          ['step', 'write marker', 'once'],
        ],
      );
      assert.ok(res.plan![3]!.commands[0]!.startsWith(`${HOST}$ sh -c`), res.plan![3]!.commands[0]);
      assert.equal(res.steps[0]!.state, 'ok', 'read-only preflight ran for real');
      assert.equal(res.steps[1]!.state, 'planned');
      assert.equal(count(`drill/${workflowId}.count`), 0);
      assert.equal(count(`drill/${workflowId}.marker`), 0);
    } finally {
      await w.stop();
    }
  });

  test('cancelling during a long remote step leaves no process on the host', async () => {
    const w = await env.startWorker();
    try {
      const h = await env.start('labDrill', uniqueId('drill-cancel'), { host: HOST, steps: 1, holdSeconds: 600, requestedBy: 'alice' });
      await waitFor('sleep 600 to run on the host', async () => onHost(env.inventory, HOST, 'pgrep -u rbops -fx "sleep 600" || true').trim() !== '');
      await h.cancel();
      const f = await failureOf(h).catch((e: Error) => ({ message: e.message, type: 'cancelled' }));
      assert.ok(f);
      await waitFor('no sleep 600 left', async () => onHost(env.inventory, HOST, 'pgrep -u rbops -fx "sleep 600" || true').trim() === '');
      const d = await h.describe();
      assert.equal(d.status.name, 'CANCELLED');
      const lease = await env.locks.workflow.getHandle(leaseLockId(env.inventory, HOST)).query<{ holder?: { workflowId: string } }>('lease');
      assert.notEqual(lease.holder?.workflowId, h.workflowId, 'the lease was released on cancel');
    } finally {
      await w.stop();
    }
  });

  test("two runs on the same host: the second waits for the first one's lease", async () => {
    const w = await env.startWorker();
    try {
      const first = await env.start('labDrill', uniqueId('drill-lease-a'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the first at its gate', async () => (await status(first)).status === 'AwaitingApproval');
      const second = await env.start('labDrill', uniqueId('drill-lease-b'), { host: HOST, steps: 1, requestedBy: 'alice' });
      const waiting = await waitFor('the second to report the lease', async () => {
        const v = await status(second);
        return v.waitingFor?.includes(first.workflowId) && v;
      });
      assert.equal(waiting.stepsDone, 0, 'the second has not run anything');
      const lock = await env.locks.workflow
        .getHandle(leaseLockId(env.inventory, HOST))
        .query<{ holder?: { workflowId: string }; waiters: { workflowId: string }[] }>('lease');
      assert.equal(lock.holder?.workflowId, first.workflowId);
      assert.deepEqual(
        lock.waiters.map((x) => x.workflowId),
        [second.workflowId],
      );
      await first.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob' }] });
      await first.result();
      await waitFor('the second to get the host', async () => (await status(second)).status === 'AwaitingApproval');
      await second.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob' }] });
      assert.equal(((await second.result()) as RunbookResult).status, 'Completed');
    } finally {
      await w.stop();
    }
  });
});
