// A worker killed with SIGKILL in the middle of a one-shot remote step: a new worker process picks the
// run up, re-attaches to the command still running on the host, and the step runs exactly once.
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

test('kill -9 of the worker during a one-shot step: a new worker re-attaches; the step ran once', async () => {
  const HOST = 'cloud-client';
  const id = uniqueId('crash');
  let worker = workerProcess();
  const h = await env.start('labDrill', id, { host: HOST, steps: 1, requestedBy: 'alice', markerDelaySeconds: 6 });
  await waitFor('the gate', async () => (await status(h)).status === 'AwaitingApproval', 60_000);
  await h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob', reason: 'crash drill' }] });
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
  const attempts = (await h.fetchHistory())
    .events!.filter((e) => e.activityTaskStartedEventAttributes)
    .map((e) => e.activityTaskStartedEventAttributes!.attempt);
  assert.ok(attempts.includes(2), 'the activity was attempted again after the crash');
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
});
