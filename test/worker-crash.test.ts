// A worker killed with SIGKILL in the middle of a one-shot remote step, as an activity or as a quick
// (local-activity) step: a new worker process picks the run up, re-attaches to the command still running
// on the host, and the step runs exactly once.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { onHost, status, testEnv, uniqueId, waitFor, type TestEnv } from './harness.js';

let env: TestEnv;
const workers: ChildProcess[] = [];
before(async () => {
  env = await testEnv();
});
afterEach(async () => env?.endRuns());
after(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  await env?.close();
});

/** The production worker process, exactly as `npm start` runs it. */
function workerProcess(): ChildProcess {
  const w = spawn(process.execPath, ['build/workers/main.js'], {
    env: { ...process.env, RUNBOOK_METRICS_PORT: '0', RUNBOOK_LOG_LEVEL: 'WARN' },
    stdio: 'ignore',
  });
  workers.push(w);
  return w;
}

/** Starts a drill, kills the worker inside its dangerous one-shot step, and returns what the host and the history say. */
async function crashInsideMarker(quickOneShots: boolean) {
  const HOST = 'cloud-client';
  const id = uniqueId(quickOneShots ? 'crash-quick' : 'crash');
  let worker = workerProcess();
  const h = await env.start('labDrill', id, { host: HOST, steps: 1, requestedBy: 'alice', markerDelaySeconds: 6, ...(quickOneShots ? { quickOneShots } : {}) });
  await waitFor('the gate', async () => (await status(h)).status === 'AwaitingApproval', 60_000);
  // Not awaited: a quick step right after the gate runs inside the workflow task that accepts the approval,
  // so the Update's answer only leaves with that task (after the step, or the crash).
  const approved = h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob', reason: 'crash drill' }] }).catch((err: Error) => err);
  const markerStarts = (): number =>
    onHost(env.inventory, HOST, 'cat ~/.runbooks/audit.log')
      .split('\n')
      .filter((l) => l.includes(id) && l.includes('marker written')).length;
  await waitFor('the dangerous step to start on the host', async () => markerStarts() === 1);
  worker.kill('SIGKILL');
  await new Promise((r) => worker.once('exit', r));
  worker = workerProcess();
  const res = (await h.result()) as RunbookResult;
  assert.equal(res.status, 'Completed');
  await approved;
  assert.equal(markerStarts(), 1, 'the host audit shows one start of the dangerous command');
  assert.equal(onHost(env.inventory, HOST, `wc -l < drill/${id}.marker`).trim(), '1', 'one marker line');
  // The worker's audit store says how the second attempt got its result.
  const jsonl = readFileSync(join(process.env.RUNBOOK_DATA_DIR!, 'audit', id, 'commands.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const marker = jsonl.filter((r: { step: string }) => r.step === 'write marker');
  assert.equal(marker.length, 1, 'only the surviving attempt recorded a result');
  assert.equal(marker[0].reattached, true);
  assert.equal(marker[0].exitCode, 0);
  const events = (await h.fetchHistory()).events!;
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
  return events;
}

test('kill -9 of the worker during a one-shot step: a new worker re-attaches; the step ran once', async () => {
  const events = await crashInsideMarker(false);
  const attempts = events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
  assert.ok(attempts.includes(2), 'the activity was attempted again after the crash');
});

test('kill -9 during a quick one-shot step (a local activity under the run key): the new worker re-attaches; it ran once', async () => {
  const events = await crashInsideMarker(true);
  const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType?.name);
  assert.ok(!scheduled.includes('runCommand'), `no activity task for the quick one-shot step (scheduled: ${scheduled.join(', ')})`);
  const markers = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
  assert.ok(markers.length >= 1, 'its result is a local-activity marker');
  // The crash cost the first worker's workflow task: it timed out and another worker ran it again.
  assert.ok(
    events.some((e) => e.workflowTaskTimedOutEventAttributes || e.workflowTaskFailedEventAttributes),
    'the crashed workflow task was retried',
  );
});
