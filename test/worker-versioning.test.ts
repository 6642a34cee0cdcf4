// Shipping new runbook code while a run is parked at a gate (Worker Versioning), against the real dev
// server and a real lab host: a labDrill parked on build A, build B (labDrill with a step added after the
// gate) started beside it and promoted with `runbook rollout promote`; the parked run, approved, finishes
// on A with A's steps, a new run gets B's, and A's worker is stopped once `rollout drained` says so.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { promote } from '../workers/deployment.js';
import { buildIdOf, bundleWorkflows } from '../workers/workflow-bundle.js';
import { ADDED_STEP } from './fixtures/versioned-workflows.js';
import { cli, cliJson, status, testEnv, uniqueId, waitFor, type TestEnv } from './harness.js';

// A task queue (and so a deployment) of its own: the other files' workers stay on `runbooks`.
const TQ = 'runbooks-versioning';
process.env.RUNBOOK_TASK_QUEUE = TQ; // the CLI's deployment and task queue

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
afterEach(async () => env?.endRuns());
after(async () => env?.close());

const HOST = 'lava-worker';
const drill = { host: HOST, steps: 2, shareHost: true, requestedBy: 'alice' };
const approval = { gate: 'write-marker', approver: 'bob', reason: 'versioning drill' };

async function pinOf(h: WorkflowHandle): Promise<{ behavior: unknown; buildId?: string | null }> {
  const v = (await h.describe()).raw.workflowExecutionInfo?.versioningInfo;
  return { behavior: v?.behavior, buildId: v?.deploymentVersion?.buildId };
}

async function failedTasks(h: WorkflowHandle): Promise<number> {
  const events = (await h.fetchHistory()).events ?? [];
  return events.filter((e) => e.workflowTaskFailedEventAttributes || e.workflowTaskTimedOutEventAttributes).length;
}

describe('worker versioning', () => {
  test('a run parked on build A finishes on A after B is promoted; new runs use B; A is drained and stopped', async () => {
    const t0 = Date.now();
    const bundleB = await bundleWorkflows(fileURLToPath(new URL('./fixtures/versioned-workflows.js', import.meta.url)));
    const buildA = buildIdOf(env.bundle);
    const buildB = buildIdOf(bundleB);
    assert.notEqual(buildA, buildB, 'a changed procedure is a new build');
    assert.match(buildA, /^wf-[0-9a-f]{12}$/);
    assert.equal((await cliJson('rollout', 'build-id')).buildId, buildA, 'the CLI names the build this checkout runs');
    console.log(`versioning: build A ${buildA}, build B ${buildB}`);

    const workerA = await env.startWorker({ config: { taskQueue: TQ } }); // the deployment's first build: current by itself
    assert.equal(workerA.version.buildId, buildA);
    const parked = await env.start('labDrill', uniqueId('drill-pinned'), drill, { taskQueue: TQ });
    await waitFor('the gate to open on A', async () => (await status(parked)).status === 'AwaitingApproval');
    assert.deepEqual(await pinOf(parked), { behavior: 1, buildId: buildA }, 'pinned (VERSIONING_BEHAVIOR_PINNED) to A');

    const workerB = await env.startWorker({ config: { taskQueue: TQ }, bundle: bundleB, promote: 'never' });
    const before = await waitFor('both builds listed, one run pinned to A', async () => {
      const s = await cliJson('rollout', 'status');
      const a = s.versions.find((v: { buildId: string }) => v.buildId === buildA);
      return s.versions.length === 2 && a?.pinnedOpen === 1 && s.versions.every((v: { polled: boolean }) => v.polled) && s;
    });
    assert.equal(before.current, buildA);

    const promoted = await cliJson('rollout', 'promote', buildB);
    assert.equal(promoted.previous, buildA);
    const notYet = await cli('rollout', 'drained', buildA, '--json');
    assert.equal(notYet.code, 3, 'A still has a pinned run');
    assert.equal(JSON.parse(notYet.stdout).pinnedOpen, 1);

    const fresh = await env.start('labDrill', uniqueId('drill-on-b'), drill, { taskQueue: TQ });
    await waitFor('the gate to open on B', async () => (await status(fresh)).status === 'AwaitingApproval');
    assert.equal((await pinOf(fresh)).buildId, buildB, 'a new run starts on the current build');

    await parked.executeUpdate('approve', { args: [approval] });
    const old = (await parked.result()) as RunbookResult;
    assert.equal(old.status, 'Completed');
    assert.deepEqual(
      old.steps.map((s) => s.name),
      ['harmless step 1', 'harmless step 2', 'write marker'],
      'the parked run kept the steps its approver saw (build A)',
    );
    assert.equal((await pinOf(parked)).buildId, buildA);

    await fresh.executeUpdate('approve', { args: [approval] });
    const neu = (await fresh.result()) as RunbookResult;
    assert.deepEqual(
      neu.steps.map((s) => s.name),
      ['harmless step 1', 'harmless step 2', ADDED_STEP, 'write marker'],
      'the new run has build B steps',
    );

    const done = await waitFor('A drained', async () => {
      const r = await cli('rollout', 'drained', buildA, '--json');
      return r.code === 0 && JSON.parse(r.stdout);
    });
    assert.equal(done.pinnedOpen, 0);
    await workerA.stop();
    for (const h of [parked, fresh]) assert.equal(await failedTasks(h), 0, `${h.workflowId}: no workflow task failed or timed out`);
    const after = await cliJson('rollout', 'status');
    assert.equal(after.current, buildB);
    await workerB.stop();
    console.log(`versioning: drill done in ${Date.now() - t0} ms`);
  });

  test('a run pinned to a build whose worker is gone waits for it: the current build never runs it', async () => {
    const bundleB = await bundleWorkflows(fileURLToPath(new URL('./fixtures/versioned-workflows.js', import.meta.url)));
    const workerB = await env.startWorker({ config: { taskQueue: TQ }, bundle: bundleB, promote: 'always' });
    // Back to A (a rollback is a promote too), park a run on it, then stop A's worker while B stays current.
    let workerA = await env.startWorker({ config: { taskQueue: TQ }, promote: 'always' });
    const h = await env.start('labDrill', uniqueId('drill-orphaned'), drill, { taskQueue: TQ });
    await waitFor('the gate to open on A', async () => (await status(h)).status === 'AwaitingApproval');
    await promote(env.client, workerB.version);
    await workerA.stop();
    // The durable approval path: a signal is stored with no worker to take it.
    await h.signal('approval', { ...approval, verdict: 'approve' });
    await waitFor('the signal in history', async () => ((await h.fetchHistory()).events ?? []).some((e) => e.workflowExecutionSignaledEventAttributes));
    assert.equal((await h.describe()).status.name, 'RUNNING', 'waiting, not failed');
    workerA = await env.startWorker({ config: { taskQueue: TQ }, promote: 'never' });
    const r = (await h.result()) as RunbookResult;
    assert.deepEqual(
      r.steps.map((s) => s.name),
      ['harmless step 1', 'harmless step 2', 'write marker'],
      'build B (current, polling all along) never ran the run pinned to A',
    );
    assert.equal(await failedTasks(h), 0);
    await workerA.stop();
    await workerB.stop();
  });
});
