// The LAVA schedules preset, created by the operator CLI against the real dev server: a nightly
// lavaMasterBackup and a weekly lavaBackupVerify, both overlap SKIP. "Trigger now" fires a real backup of the
// lab's LAVA master; a second trigger while that backup is still running is skipped, not stacked. The
// backup is held "running" deterministically: a labDrill holds the backup store's lease at its gate.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { LabOptions } from '../scripts/lab/layout.js';
import { lavaUp } from '../scripts/lab/lava.js';
import { cli, cliJson, status, testEnv, uniqueId, waitFor, type RunningWorker, type TestEnv } from './harness.js';

let env: TestEnv;
let worker: RunningWorker;
const BACKUP = 'lava-nightly-backup';
const VERIFY = 'lava-weekly-verify';

before(async () => {
  env = await testEnv();
  await lavaUp(JSON.parse(process.env.RUNBOOK_TEST_LAB!) as LabOptions);
  worker = await env.startWorker();
});
after(async () => {
  for (const id of [BACKUP, VERIFY])
    await env.client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  await env?.endRuns();
  await worker?.stop();
  await env?.close();
});

const describe = (id: string) => env.client.schedule.getHandle(id).describe();

test('schedule create lava-nightly: trigger now runs a backup; a second trigger meanwhile is skipped', async () => {
  const bad = await cli('schedule', 'create', 'lava-nightly', '--set', 'store=../x');
  assert.equal(bad.code, 2, 'bad input is refused before any schedule exists');
  assert.match(bad.stderr, /store:/);
  await assert.rejects(describe(BACKUP), /not found/i);

  const made = (await cliJson('schedule', 'create', 'lava-nightly', '--set', 'requestedBy=alice')) as { scheduleId: string; runbook: string }[];
  assert.deepEqual(
    made.map((m) => [m.scheduleId, m.runbook]),
    [
      [BACKUP, 'lavaMasterBackup'],
      [VERIFY, 'lavaBackupVerify'],
    ],
  );
  const backup = await describe(BACKUP);
  assert.equal(backup.policies.overlap, 'SKIP');
  assert.deepEqual(backup.spec.calendars?.length ?? 0, 1, 'a daily calendar spec');
  assert.ok(backup.action.type === 'startWorkflow' && backup.action.workflowType === 'lavaMasterBackup');
  assert.deepEqual(backup.action.args, [{ master: 'lava-master', store: 'backup-store', requestedBy: 'alice' }]);
  const verify = await describe(VERIFY);
  assert.equal(verify.policies.overlap, 'SKIP');
  assert.ok(verify.action.type === 'startWorkflow');
  assert.deepEqual(verify.action.args, [{ store: 'backup-store', bundle: 'latest', requestedBy: 'alice' }], '--set applies only to fields a runbook has');
  const listed = (await cliJson('schedule', 'list')) as { scheduleId: string; runbook: string; paused: boolean }[];
  assert.ok(listed.some((s) => s.scheduleId === BACKUP && s.runbook === 'lavaMasterBackup' && !s.paused));

  // Someone else's run holds the backup store: the scheduled backup will wait for the lease, still running.
  const holder = await env.start('labDrill', uniqueId('store-holder'), { host: 'backup-store', steps: 1, requestedBy: 'carol' });
  await waitFor('the drill to hold the store at its gate', async () => (await status(holder)).status === 'AwaitingApproval');

  assert.equal((await cli('schedule', 'trigger', BACKUP)).code, 0);
  const first = await waitFor('the triggered backup to be running', async () => (await describe(BACKUP)).info.runningActions[0]);
  const run = env.client.workflow.getHandle(first.workflow.workflowId, first.workflow.firstExecutionRunId);
  await waitFor('the backup to wait for the store lease', async () => /lease/.test((await status(run)).waitingFor ?? ''));

  assert.equal((await cli('schedule', 'trigger', BACKUP)).code, 0);
  const skipped = await waitFor('the second trigger to be skipped', async () => {
    const d = await describe(BACKUP);
    return d.info.numActionsSkippedOverlap >= 1 && d.info;
  });
  assert.equal(skipped.numActionsSkippedOverlap, 1);
  assert.equal(skipped.runningActions.length, 1, 'one backup running, not two');
  assert.equal(skipped.recentActions.length, 1, 'the skipped trigger started nothing');

  assert.equal((await cli('schedule', 'pause', BACKUP, '--note', 'test: no nightly run now')).code, 0);
  assert.equal((await describe(BACKUP)).state.paused, true);

  // The drill is rejected and frees the store; the scheduled backup then runs to the end.
  await holder.executeUpdate('reject', { args: [{ gate: 'write-marker', approver: 'bob', reason: 'test: free the store' }] });
  const done = await waitFor(
    'the scheduled backup to finish',
    async () => {
      const v = await status(run);
      return ['Completed', 'Parked', 'Failed'].includes(v.status) && v;
    },
    300_000,
  );
  assert.equal(done.status, 'Completed', `${done.parked?.step}: ${done.parked?.error}`);
  const out = ((await run.result()) as { output: { bundle: string } }).output;
  assert.match(out.bundle, /^backups\/lava\/lava-master\/\d{8}T\d{6}Z$/);

  // The weekly verify, fired now, restores that newest bundle.
  assert.equal((await cli('schedule', 'trigger', VERIFY)).code, 0);
  const v = await waitFor('the triggered verify', async () => (await describe(VERIFY)).info.recentActions[0]);
  const verifyRun = env.client.workflow.getHandle(v.action.workflow.workflowId, v.action.workflow.firstExecutionRunId);
  const verified = (await verifyRun.result()) as { status: string; output: { bundle: string } };
  assert.equal(verified.status, 'Completed');
  assert.equal(verified.output.bundle, out.bundle);
});
