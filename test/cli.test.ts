// The operator CLI against the real dev server: bad input is refused before anything starts, and a run
// can be started, inspected, listed, approved and decided from a terminal.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, afterEach, before, test } from 'node:test';
import { onHost, testEnv, uniqueId, waitFor, status, type TestEnv } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
afterEach(async () => env?.endRuns());
after(async () => env?.close());

// Asynchronous on purpose: the worker lives in this process and must keep answering while the CLI runs.
function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['build/scripts/runbook.js', ...args], { env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function jsonOut(r: { code: number | null; stdout: string; stderr: string }): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('start refuses bad input naming every field, and starts nothing', async () => {
  const id = uniqueId('cli-bad');
  const r = await cli('start', 'labDrill', '--id', id, '-i', '{"host":"../etc","steps":"3","requestedBy":"x","rm":"-rf"}');
  assert.equal(r.code, 2);
  for (const field of ['host:', 'steps:', 'rm: unknown field']) assert.ok(r.stderr.includes(field), r.stderr);
  await assert.rejects(env.client.workflow.getHandle(id).describe(), /not found/i);
});

test('start, status, list, approve and decide from the terminal', async () => {
  const w = await env.startWorker();
  try {
    const id = uniqueId('cli-run');
    const started = await cli('start', 'labDrill', '--id', id, '--json', '-i', JSON.stringify({ host: 'sno-node', steps: 2, failAt: 1, requestedBy: 'alice' }));
    assert.equal(started.code, 0, started.stderr);
    assert.equal(JSON.parse(started.stdout).workflowId, id);
    const h = env.client.workflow.getHandle(id);
    await waitFor('the run to park', async () => (await status(h)).status === 'Parked');
    const st = jsonOut(await cli('status', id, '--json'));
    assert.equal(st.parked.step, 'flaky step 1');
    const listed = jsonOut(await cli('list', '--status', 'Parked', '--json')) as { workflowId: string }[];
    assert.ok(listed.some((x) => x.workflowId === id));
    assert.equal((await cli('decide', id, 'retry', '--operator', 'bob', '--reason', 'transient')).code, 0);
    await waitFor('the gate', async () => (await status(h)).status === 'AwaitingApproval');
    const refused = await cli('approve', id, 'write-marker', '--approver', 'alice', '--reason', 'mine');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /four-eyes/);
    const ok = await cli('approve', id, 'write-marker', '--approver', 'carol', '--reason', 'reviewed');
    assert.equal(ok.code, 0, ok.stderr);
    await h.result();
    assert.equal(onHost(env.inventory, 'sno-node', `cat drill/${id}.marker | wc -l`).trim(), '1');
  } finally {
    await w.stop();
  }
});
