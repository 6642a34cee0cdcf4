// The operator CLI against the real dev server: bad input is refused before anything starts, and a run
// can be started, found pending, approved, decided and inspected from a terminal; schedules and history
// export work; every --json output parses.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { cli, cliJson as json, onHost, status, testEnv, trust, uniqueId, waitFor, type TestEnv } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
afterEach(async () => env?.endRuns());
after(async () => env?.close());

test('list shows every runbook with its input fields', async () => {
  const rows = (await json('list')) as { runbook: string; input: string[] }[];
  const drill = rows.find((r) => r.runbook === 'labDrill')!;
  assert.ok(drill.input.includes('host: string') && drill.input.includes('failAt?: integer'), drill.input.join(', '));
  assert.ok(rows.some((r) => r.runbook === 'hostFacts'));
});

test('start refuses bad input naming every field, and starts nothing', async () => {
  const id = uniqueId('cli-bad');
  const r = await cli('start', 'labDrill', '--id', id, '-i', '{"host":"../etc","steps":"3","requestedBy":"x","rm":"-rf"}');
  assert.equal(r.code, 2);
  for (const field of ['host:', 'steps:', 'rm: unknown field']) assert.ok(r.stderr.includes(field), r.stderr);
  await assert.rejects(env.client.workflow.getHandle(id).describe(), /not found/i);
});

test('start → pending → decide → approve → status, from the terminal', async () => {
  const w = await env.startWorker();
  try {
    const id = uniqueId('cli-run');
    const started = await json(
      'start',
      'labDrill',
      '--id',
      id,
      '--set',
      'host=sno-node',
      '--set',
      'steps=2',
      '--set',
      'failAt=1',
      '--set',
      'requestedBy=alice',
    );
    assert.equal(started.workflowId, id);
    assert.ok(started.url.endsWith(`/namespaces/default/workflows/${id}`));
    const h = env.client.workflow.getHandle(id);
    await waitFor('the run to park', async () => (await status(h)).status === 'Parked');
    await waitFor('pending to list it as parked', async () =>
      ((await json('pending')) as { workflowId: string; status: string }[]).some((x) => x.workflowId === id && x.status === 'Parked'),
    );
    assert.equal((await json('status', id)).parked.step, 'flaky step 1');
    assert.equal((await cli('decide', id, 'retry', '--as', 'bob', '--key', trust.keys.bob!, '--reason', 'transient')).code, 0);
    await waitFor('the gate', async () => (await status(h)).status === 'AwaitingApproval');
    await waitFor('pending to list it at the gate', async () =>
      ((await json('pending')) as { workflowId: string; gate?: string }[]).some((x) => x.workflowId === id && x.gate === 'write-marker'),
    );
    const refused = await cli('approve', id, '--gate', 'write-marker', '--as', 'alice', '--key', trust.keys.alice!, '--reason', 'mine');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /four-eyes/);
    const ok = await json('approve', id, '--gate', 'write-marker', '--as', 'carol', '--key', trust.keys.carol!, '--reason', 'reviewed');
    assert.equal(ok.verdict, 'approved');
    assert.equal(ok.proven.via, 'ssh', 'the CLI signs with the operator key');
    await h.result();
    const final = await json('status', id);
    assert.equal(final.status, 'Completed');
    assert.deepEqual(
      final.approvals.map((a: { approver: string }) => a.approver),
      ['carol'],
    );
    const human = await cli('status', id);
    assert.match(human.stdout, /\[#{20}\] 3\/3/);
    assert.equal(onHost(env.inventory, 'sno-node', `cat drill/${id}.marker | wc -l`).trim(), '1');
    // history export writes a replayable history.
    const exported = await cli('history', 'export', id);
    assert.equal(exported.code, 0, exported.stderr);
    await Worker.runReplayHistory({ workflowBundle: env.bundle }, JSON.parse(exported.stdout), id);
  } finally {
    await w.stop();
  }
});

test('plan prints the plan and its fingerprint without changing anything', async () => {
  const w = await env.startWorker();
  try {
    const r = await json('plan', 'labDrill', '--set', 'host=sno-node', '--set', 'steps=1', '--set', 'requestedBy=alice');
    assert.match(r.fingerprint, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      r.plan.map((p: { kind: string }) => p.kind),
      ['step', 'gate', 'step'],
    );
  } finally {
    await w.stop();
  }
});

test('schedule create, list, trigger, pause, delete', async () => {
  const w = await env.startWorker();
  const id = uniqueId('sched-facts');
  try {
    await json('schedule', 'create', id, 'hostFacts', '--set', 'hosts=["backup-store"]', '--cron', '0 3 * * *', '--note', 'nightly facts');
    const listed = (await json('schedule', 'list')) as { scheduleId: string; runbook: string; paused: boolean; next: string }[];
    const mine = listed.find((s) => s.scheduleId === id)!;
    assert.equal(mine.runbook, 'hostFacts');
    assert.equal(mine.paused, false);
    assert.match(mine.next, /T03:00:00/);
    assert.equal((await cli('schedule', 'trigger', id)).code, 0);
    const run = await waitFor('the triggered run', async () => {
      for await (const x of env.client.workflow.list({ query: `TemporalScheduledById = "${id}"` })) return x;
      return undefined;
    });
    assert.equal(((await env.client.workflow.getHandle(run.workflowId).result()) as { status: string }).status, 'Completed');
    assert.equal((await cli('schedule', 'pause', id, '--note', 'maintenance')).code, 0);
    assert.equal(((await json('schedule', 'list')) as { scheduleId: string; paused: boolean }[]).find((s) => s.scheduleId === id)!.paused, true);
  } finally {
    await cli('schedule', 'delete', id);
    await w.stop();
  }
});
