// Quick steps (labDrill's harmless steps, a hold of up to 60 s): local activities exec'd straight on the
// pooled SSH connection. Against the real dev server and a real lab host: they leave no activity task in
// history, every command is still in the worker's audit store, and cancelling one kills the remote process.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { CommandResult } from '../workflows/engine/commands.js';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { failureOf, onHost, status, testEnv, uniqueId, waitFor, type TestEnv } from './harness.js';
import { saveHistory } from './history-files.js';

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
afterEach(async () => env?.endRuns());
after(async () => env?.close());

const HOST = 'lava-worker';

async function eventsOf(h: WorkflowHandle) {
  return (await h.fetchHistory()).events ?? [];
}

function markers(events: Awaited<ReturnType<typeof eventsOf>>, name: string): number {
  return events.filter((e) => e.markerRecordedEventAttributes?.markerName === name).length;
}

/** The ids of the run's patch markers (the SDK's `patch-data` detail: {"id", "deprecated"}), sorted. */
function patchIds(events: Awaited<ReturnType<typeof eventsOf>>): string[] {
  return events
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .map((e) => {
      const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
      return data ? String((JSON.parse(Buffer.from(data).toString('utf8')) as { id?: string }).id) : '?';
    })
    .sort();
}

describe('quick steps', () => {
  test('run as local activities, and every command is in the audit store with its exit code, duration and output', async () => {
    const w = await env.startWorker();
    try {
      const h = await env.start('labDrill', uniqueId('drill-quick'), { host: HOST, steps: 3, requestedBy: 'alice' });
      await waitFor('the gate to open', async () => (await status(h)).status === 'AwaitingApproval');
      await h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob', reason: 'quick' }] });
      const res = (await h.result()) as RunbookResult;
      assert.equal(res.status, 'Completed');
      assert.deepEqual(
        res.steps.map((s) => s.state),
        ['ok', 'ok', 'ok', 'ok'],
      );

      const events = await eventsOf(h);
      const scheduled = events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
      // Only the one-shot marker step (and the engine's own admin calls) are ordinary activity tasks.
      assert.deepEqual(
        scheduled.filter((n) => n === 'runCommand' || n === 'runQuickCommand'),
        ['runCommand'],
      );
      // The three consecutive harmless steps are one batch: one local activity, three commands.
      assert.equal(markers(events, 'core_local_activity'), 1, 'one local-activity marker for the three harmless steps');
      // By id: the quick steps', their batches', the identity-keyed leases' (labDrill takes a lease), the arrival refusals' (its gate).
      assert.deepEqual(
        patchIds(events),
        [
          'lease-asked-again',
          'lease-grant-confirmed',
          'leases-by-host-identity',
          'leases-in-lock-namespace',
          'quick-step-batches',
          'quick-steps-local-activities',
          'refusals-at-arrival',
        ],
        'the patch markers that keep older histories replaying',
      );

      const lines = readFileSync(join(env.config.dataDir, 'audit', h.workflowId, 'commands.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as CommandResult & { step: string });
      const quick = lines.filter((l) => l.step.startsWith('harmless step'));
      assert.deepEqual(
        quick.map((l) => l.step),
        ['harmless step 1', 'harmless step 2', 'harmless step 3'],
      );
      const hostname = onHost(env.inventory, HOST, 'hostname').trim();
      for (const [k, l] of quick.entries()) {
        assert.equal(l.host, HOST);
        assert.equal(l.argv[0], 'sh');
        assert.equal(l.argv.at(-1), String(k + 1));
        assert.equal(l.exitCode, 0);
        assert.ok(l.durationMs >= 0 && Number.isInteger(l.durationMs));
        assert.equal(l.stdoutTail, `drill step ${k + 1} on ${hostname}\n`);
        assert.equal(l.stderrTail, '', 'the process-group line is stripped from stderr');
        assert.equal(readFileSync(join(env.config.dataDir, 'audit', `${l.auditRef}.stdout`), 'utf8'), l.stdoutTail);
      }
      // The run's own record carries the same for its last command.
      assert.equal(res.steps[2]!.exitCode, 0);
      assert.equal(res.steps[2]!.lastOutput, `drill step 3 on ${hostname}`);
      await saveHistory(h, 'labDrill-quick-steps');
    } finally {
      await w.stop();
    }
  });

  test('a batch stops at a member that fails: it runs on its own with its retries, the rest as a new batch; every command audited', async () => {
    const w = await env.startWorker();
    try {
      // 30 harmless steps, a quick step that fails its first time after the first: batches of at most 25.
      const h = await env.start('labDrill', uniqueId('drill-quick-batch'), { host: HOST, steps: 30, drill: 'quick-flaky', requestedBy: 'alice' });
      await waitFor('the gate to open', async () => (await status(h)).status === 'AwaitingApproval');
      const v = await status(h);
      assert.equal(v.steps.length, 31);
      assert.ok(
        v.steps.every((st) => st.state === 'ok'),
        JSON.stringify(v.steps.filter((st) => st.state !== 'ok')),
      );
      const hostname = onHost(env.inventory, HOST, 'hostname').trim();
      assert.deepEqual(
        v.steps.map((st) => st.lastOutput ?? ''),
        ['drill step 1 on ' + hostname, '', ...Array.from({ length: 29 }, (_, k) => `drill step ${k + 2} on ${hostname}`)],
        'each step has its own command output, in order',
      );
      // Batch 1: harmless step 1, then the flaky step fails (the batch stops, nothing after it ran);
      // the flaky step on its own (its second execution succeeds);
      // then harmless steps 2..26 (25) and 27..30: two more batches.
      const events = await eventsOf(h);
      assert.equal(markers(events, 'core_local_activity'), 4);
      assert.equal(onHost(env.inventory, HOST, `wc -l < ~/drill/${h.workflowId}.quick.count`).trim(), '2', 'once in the batch, once on its own');
      const lines = readFileSync(join(env.config.dataDir, 'audit', h.workflowId, 'commands.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as CommandResult & { step: string });
      assert.deepEqual(
        lines.map((l) => `${l.step}:${l.exitCode}`),
        ['harmless step 1:0', 'flaky quick step:3', 'flaky quick step:0', ...Array.from({ length: 29 }, (_, k) => `harmless step ${k + 2}:0`)],
        'every command, once each, in order; the failing one with its exit code',
      );
    } finally {
      await w.stop();
    }
  });

  test('cancelling a run inside a quick step kills the command on the host', async () => {
    const w = await env.startWorker();
    try {
      // 59 s: a quick hold (≤ 60 s), and a `sleep 59` nothing else in the suite runs. It must be gone
      // within waitFor's 30 s of the cancel, long before it would end by itself.
      const h = await env.start('labDrill', uniqueId('drill-quick-cancel'), { host: HOST, steps: 1, holdSeconds: 59, requestedBy: 'alice' });
      const running = (): string => onHost(env.inventory, HOST, 'pgrep -u rbops -fx "sleep 59" || true').trim();
      await waitFor('sleep 59 to run on the host', async () => running() !== '');
      await h.cancel();
      await waitFor('no sleep 59 left on the host', async () => running() === '');
      const f = await failureOf(h).catch((e: Error) => ({ message: e.message }));
      assert.ok(f);
      const d = await h.describe();
      assert.equal(d.status.name, 'CANCELLED');
      const events = await eventsOf(h);
      assert.ok(!events.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runCommand'), 'the hold was not an ordinary activity');
    } finally {
      await w.stop();
    }
  });
});
