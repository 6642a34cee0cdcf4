// snoPreUpgradeBackup and snoUpgradeRecovery on the lab's sno-node (scripts/lab/sno.ts): a real ostree
// sysroot booted the way ostree checks it, real etcd, real /etc, /usr/local and /var/lib/kubelet trees,
// a real tmpfs as the recovery partition. Standing in: rpm-ostree (libostree through python3-gi),
// systemctl/kubelet/crio/crictl/oc and the reboot (new namespaces and boot id). What it proves:
// - the backup removes the standby deployment and pins the booted one (ostree admin status), only after
//   showing and gating what it deletes; every artifact is checksummed; the phases are the seed's states;
// - not enough space: nothing is deleted and the run shows Error with the numbers;
// - each row of the rollback table is reached by a prepared sysroot and handled as the seed says;
// - the two-stage recovery across the rollback reboot and the stage-1 reboot restores etcd keys and files
//   changed after the backup, with the worker process killed in stage 1 and in stage 2 (nothing finished
//   runs again); a stage that fails parks, and `restart` runs the recovery again from stage 1.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, afterEach, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { LabOptions } from '../scripts/lab/layout.js';
import { onSno, snoUp } from '../scripts/lab/sno.js';
import type { RunbookView } from '../workflows/engine/messages.js';
import { status, testEnv, uniqueId, waitFor, type RunningWorker, type TestEnv } from './harness.js';
import { saveHistory } from './history-files.js';

let env: TestEnv;
let lab: LabOptions;
let worker: RunningWorker | undefined;
const node = (script: string): Promise<string> => onSno(lab, script);
const etcd = (args: string): Promise<string> => node(`. /etc/kubernetes/lab-etcd.env; ETCDCTL_API=3 etcdctl --endpoints http://$NODE_IP:2379 ${args}`);

before(async () => {
  env = await testEnv();
  lab = JSON.parse(process.env.RUNBOOK_TEST_LAB!) as LabOptions;
  // An upgraded node: 4.14 installed, 4.15 deployed on top and booted (4.14 is the standby).
  await snoUp(lab, { deployments: ['4.14', '4.15'], recoverySize: '256m' });
  await waitFor(
    'etcd on sno-node',
    async () => {
      await etcd('endpoint health');
      return true;
    },
    60_000,
  );
  worker = await env.startWorker();
});
afterEach(async () => env?.endRuns());
after(async () => {
  await worker?.stop();
  await env?.close();
});

/** Waits for the run to reach this gate (or to stop anywhere else, which fails the assertion) and approves it as bob. */
async function approve(h: WorkflowHandle, gate: string): Promise<RunbookView> {
  const v = await waitFor(
    `gate ${gate}`,
    async () => {
      const s = await status(h);
      if (['Completed', 'Failed', 'Aborted', 'Parked'].includes(s.status)) return s;
      return s.openGate?.name === gate && s;
    },
    180_000,
  );
  assert.equal(v.openGate?.name, gate, `expected gate ${gate}, got ${v.status}: ${v.parked?.step ?? ''} ${v.parked?.error ?? v.lastError ?? ''}`);
  await h.executeUpdate('approve', { args: [{ gate, approver: 'bob', reason: `test: ${gate}` }] });
  return v;
}

/** Waits until the run ended, parked or waits at a gate (a test that expects none of these fails on the status). */
function settled(h: WorkflowHandle): Promise<RunbookView> {
  return waitFor(
    'the run to end, park or wait at a gate',
    async () => {
      const v = await status(h);
      return ['Completed', 'Parked', 'Failed', 'Aborted', 'AwaitingApproval'].includes(v.status) && v;
    },
    240_000,
  );
}

async function phaseOf(h: WorkflowHandle): Promise<unknown> {
  const d = await h.describe();
  return (d.searchAttributes as Record<string, unknown[]>).RunbookPhase?.[0];
}

/** The deployment lines of `ostree admin status` with their Pinned flag, e.g. "* 4.15.0 pinned". */
async function deployments(): Promise<string[]> {
  const out = await node('ostree admin status');
  return out
    .split(/\n(?=[* ] \S)/)
    .filter((b) => b.trim())
    .map(
      (b) =>
        `${b.startsWith('*') ? '*' : ' '} ${/Version: (\S+)/.exec(b)?.[1]}${b.includes('Pinned: yes') ? ' pinned' : ''}${/\(rollback\)/.test(b) ? ' rollback' : ''}`,
    );
}

const calls = async (pattern: string): Promise<number> => Number((await node(`grep -c -- '${pattern}' /var/log/lab-calls.log || true`)).trim());

test('not enough space: nothing is deleted, the run shows Error with the numbers', async () => {
  await node('echo old > /var/recovery/leftover-from-last-time && mount -o remount,size=1m /var/recovery');
  try {
    const h = await env.start('snoPreUpgradeBackup', uniqueId('sno-nospace'), { node: 'sno-node', marginMiB: 1, requestedBy: 'alice' });
    const v = await settled(h);
    assert.equal(v.status, 'Parked');
    assert.equal(v.parked?.step, 'estimate the backup size');
    assert.match(
      v.parked!.error,
      /not enough space on \/var\/recovery: [\d.]+ MiB available, the backup needs [\d.]+ MiB \(.*etcd-db.*\) \+ margin 1\.0 MiB = [\d.]+ MiB; nothing was deleted/,
    );
    assert.equal(await phaseOf(h), 'Error');
    assert.equal((await node('cat /var/recovery/leftover-from-last-time')).trim(), 'old', 'the leftover is still there');
    assert.deepEqual(await deployments(), ['* 4.15.0', '  4.14.0 rollback'], 'no deployment was touched');
  } finally {
    await node('mount -o remount,size=256m /var/recovery');
  }
});

test('backup: leftovers and the standby deployment go only after their gates; artifacts checksummed; the booted deployment pinned', async () => {
  const h = await env.start('snoPreUpgradeBackup', uniqueId('sno-backup'), { node: 'sno-node', marginMiB: 1, requestedBy: 'alice' });
  const leftovers = await approve(h, 'clear-leftovers');
  assert.ok(
    leftovers.openGate!.plan.some((l) => l.includes('leftover-from-last-time')),
    leftovers.openGate!.plan.join('\n'),
  );
  assert.equal(await phaseOf(h), 'PreparingToStart');
  const standby = await approve(h, 'remove-standby-deployments');
  assert.ok(
    standby.openGate!.plan.some((l) => /REMOVE 1: 4\.14\.0/.test(l)),
    standby.openGate!.plan.join('\n'),
  );
  const v = await settled(h);
  assert.equal(v.status, 'Completed', `${v.parked?.step}: ${v.parked?.error}`);
  assert.equal(await phaseOf(h), 'Succeeded');
  await saveHistory(h, 'snoPreUpgradeBackup-two-gates');
  const out = (await h.result()).output as { pinned: { version: string }; removedDeployments: string[]; manifest: { files: number }; etcdSnapshot: string };
  assert.equal(out.pinned.version, '4.15.0');
  assert.equal(out.removedDeployments.length, 1);
  assert.match(out.etcdSnapshot, /^snapshot_.*\.db$/);
  assert.deepEqual(await deployments(), ['* 4.15.0 pinned'], 'standby removed, booted pinned (ostree admin status)');
  // Independent checks on the node: the manifest covers the artifacts and verifies; the old leftover is gone.
  const listed = await node('cd /var/recovery && sha256sum --quiet -c manifest.sha256 && cut -c67- manifest.sha256');
  for (const f of [
    './cluster/' + out.etcdSnapshot,
    './etc/passwd',
    './local/bin/rpm-ostree',
    './kubelet/config.yaml',
    './upgrade-recovery.sh',
    './etc.exclude.list',
  ]) {
    assert.ok(listed.split('\n').includes(f), `${f} is in the manifest`);
  }
  assert.equal(listed.trim().split('\n').length, out.manifest.files);
  assert.equal((await node('ls /var/recovery/leftover-from-last-time 2>/dev/null || echo gone')).trim(), 'gone');
  assert.equal((await node('sh -n /var/recovery/upgrade-recovery.sh && echo ok')).trim(), 'ok', 'the standalone recovery script parses');
});

test('rollback table: single pinned deployment → no platform action; pinned standby flagged rollback → rollback gate; no pin → refused', async () => {
  // Right after the backup: one deployment, pinned. The first gate is stage 1: no platform action.
  let h = await env.start('snoUpgradeRecovery', uniqueId('sno-row-single'), { node: 'sno-node', requestedBy: 'alice' });
  const firstGate = (): Promise<RunbookView> =>
    waitFor('a gate', async () => {
      const s = await status(h);
      return s.openGate && s;
    });
  let v = await firstGate();
  assert.equal(v.openGate!.name, 'restore-files');
  assert.equal(v.steps.find((s) => s.name === 'roll back the platform and reboot')?.state, 'skipped', 'no platform action');
  await env.endRuns();
  // A deployment queued ahead of the booted, pinned one (deployed, not yet booted): the next reboot would
  // boot it, so the recovery must refuse before stage 1 reboots the node onto the failed upgrade.
  await node('ostree admin deploy --os=rhcos rhcos/4.16 >/dev/null');
  assert.deepEqual((await deployments()).slice(0, 2), ['  4.16.0', '* 4.15.0 pinned']);
  h = await env.start('snoUpgradeRecovery', uniqueId('sno-row-ahead'), { node: 'sno-node', requestedBy: 'alice' });
  v = await settled(h);
  assert.equal(v.parked?.step, 'classify the platform state');
  assert.match(v.parked!.error, /pending deployment .*4\.16\.0.* is queued ahead of the booted one/);
  assert.equal(
    v.steps.find((s) => s.name === 'reboot the node'),
    undefined,
    'nothing past the classification ran',
  );
  await env.endRuns();
  await node('ostree admin undeploy 0');
  assert.deepEqual(await deployments(), ['* 4.15.0 pinned']);
  // A failed upgrade to 4.16: booted 4.16, the pinned 4.15 right after it ("rollback").
  await upgradeTo('4.16');
  assert.deepEqual(await deployments(), ['* 4.16.0', '  4.15.0 pinned rollback']);
  h = await env.start('snoUpgradeRecovery', uniqueId('sno-row-rollback'), { node: 'sno-node', requestedBy: 'alice' });
  v = await firstGate();
  assert.equal(v.openGate!.name, 'platform-rollback');
  assert.ok(
    v.openGate!.plan.some((l) => /Standby deployment pinned, flagged as "rollback"/.test(l)),
    v.openGate!.plan.join('\n'),
  );
  assert.match(v.openGate!.plan[0]!, /delete the ClusterGroupUpgrade on the hub/);
  await env.endRuns();
  // Unpinned: nothing to roll back to; the run refuses and says why.
  await node('ostree admin pin -u 1');
  h = await env.start('snoUpgradeRecovery', uniqueId('sno-row-nopin'), { node: 'sno-node', requestedBy: 'alice' });
  v = await settled(h);
  assert.equal(v.parked?.step, 'classify the platform state');
  assert.match(v.parked!.error, /no deployment is pinned/);
  await env.endRuns();
  await node('ostree admin pin 1');
});

async function upgradeTo(version: string): Promise<void> {
  const before = (await node('cat /proc/sys/kernel/random/boot_id')).trim();
  await node(`ostree admin deploy --os=rhcos rhcos/${version} >/dev/null && systemctl reboot`);
  await waitFor('the node to reboot', async () => (await node('cat /proc/sys/kernel/random/boot_id').catch(() => before)).trim() !== before, 60_000);
  await waitFor(
    'etcd after the reboot',
    async () => {
      await etcd('endpoint health');
      return true;
    },
    60_000,
  );
}

test('recovery: several standbys → undeploy, rollback, two stages across two reboots; kill -9 in stage 1 and stage 2; etcd and files are the backup again', async () => {
  // Another failed upgrade on top: booted 4.14 (a new deployment), standby 4.16, the pinned 4.15 behind it.
  await upgradeTo('4.14');
  assert.deepEqual(await deployments(), ['* 4.14.0', '  4.16.0 rollback', '  4.15.0 pinned']);
  // What changed after the backup and must be undone: etcd keys, /etc, /usr/local.
  await etcd('put /registry/namespaces/after-backup x');
  await node('echo changed > /etc/after-backup.conf && echo changed > /usr/local/bin/after-backup && rm /etc/kubernetes/manifests/etcd-pod.yaml');
  const bootsBefore = (await node('cat /proc/sys/kernel/random/boot_id')).trim();

  // The production worker process, so that SIGKILL is a real crash; this file's worker steps aside.
  await worker?.stop();
  worker = undefined;
  const processes: ChildProcess[] = [];
  const workerProcess = (): ChildProcess => {
    const w = spawn(process.execPath, ['build/workers/main.js'], {
      env: { ...process.env, RUNBOOK_METRICS_PORT: '0', RUNBOOK_LOG_LEVEL: 'WARN' },
      stdio: 'ignore',
    });
    processes.push(w);
    return w;
  };
  const crash = async (w: ChildProcess): Promise<void> => {
    w.kill('SIGKILL');
    if (w.exitCode === null && w.signalCode === null) await new Promise((r) => w.once('exit', r));
  };
  try {
    let w = workerProcess();
    const h = await env.start('snoUpgradeRecovery', uniqueId('sno-recovery'), { node: 'sno-node', requestedBy: 'alice' });
    const undeploy = await approve(h, 'undeploy-standbys');
    assert.match(undeploy.openGate!.plan[1]!, /Multiple standby deployments/);
    assert.ok(
      undeploy.openGate!.plan.some((l) => /REMOVE 1: 4\.16\.0/.test(l)),
      undeploy.openGate!.plan.join('\n'),
    );
    await approve(h, 'platform-rollback');
    await approve(h, 'restore-files');
    // Stage 1: crash while its steps run (each takes a moment; a poll reliably lands in one of them).
    await waitFor(
      'stage 1 to run',
      async () =>
        [
          'start the progress file',
          'stop kubelet and containers',
          'restore /usr/local and /etc',
          'disable kubelet',
          'record stage restore_files',
          'read the boot id',
          'reboot the node',
          'wait for the node after stage 1',
        ].includes((await status(h)).currentStep ?? ''),
      120_000,
    );
    await crash(w);
    w = workerProcess();
    await approve(h, 'restore-cluster');
    await waitFor(
      'stage 2 to run',
      async () =>
        [
          'restore the cluster database',
          'start kubelet',
          'wait for the control-plane containers',
          'record stage restore_cluster',
          'force the redeployments',
        ].includes((await status(h)).currentStep ?? ''),
      120_000,
    );
    await crash(w);
    w = workerProcess();
    const v = await settled(h);
    assert.equal(v.status, 'Completed', `${v.parked?.step}: ${v.parked?.error}`);
    await saveHistory(h, 'snoUpgradeRecovery-full-two-crashes');
    const out = (await h.result()).output as { platform: { row: string }; rollbackReboot: { bootId: string }; stage1Reboot: { bootId: string } };
    assert.equal(out.platform.row, 'pinned-behind-standbys');
    assert.notEqual(out.rollbackReboot.bootId, bootsBefore);
    assert.notEqual(out.stage1Reboot.bootId, out.rollbackReboot.bootId, 'two reboots, two new boot ids');

    assert.deepEqual(await deployments(), ['* 4.15.0 pinned', '  4.14.0 rollback'], 'the pinned 4.15 is booted');
    assert.equal((await etcd('get /registry/namespaces/after-backup')).trim(), '', 'the key written after the backup is gone');
    assert.equal(
      (await node('ls /etc/after-backup.conf /usr/local/bin/after-backup 2>/dev/null | wc -l')).trim(),
      '0',
      'files created after the backup are gone',
    );
    assert.equal((await node('test -e /etc/kubernetes/manifests/etcd-pod.yaml && echo back')).trim(), 'back', 'the deleted file is back');
    assert.equal((await node('ls /var/recovery/progress 2>/dev/null || echo none')).trim(), 'none', 'the progress file is cleared');
    // Nothing ran twice: per run key one execution on the node; the one-shot reboots ran exactly once each.
    const perKey = (
      await node(
        `awk -F'\\t' -v w='${h.workflowId}.' 'index($2, w) == 1 {print $2}' /var/lib/runbooks-lab/rbops/.runbooks/audit.log | sort | uniq -c | awk '{print $1}' | sort -u`,
      )
    ).trim();
    assert.equal(perKey, '1', 'no command of the run was executed twice on the node');
    assert.equal(await calls('rpm-ostree rollback -r'), 1);
    assert.equal(await calls('crio wipe -f'), 1);
    assert.equal(await calls('cluster-restore.sh'), 1);
    assert.equal(await calls('oc patch'), 4, 'four operators redeployed');
    const attempts = (await h.fetchHistory())
      .events!.filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.ok(
      attempts.some((a) => (a ?? 1) > 1),
      'an activity was attempted again after a crash',
    );
  } finally {
    for (const p of processes) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    worker = await env.startWorker();
  }
});

test('a failed stage parks; restart runs the recovery again from stage 1 after its gate', async () => {
  await etcd('put /registry/namespaces/after-backup-2 y');
  await node('mkdir -p /var/lib/lab-faults && touch /var/lib/lab-faults/cluster-restore');
  const wipesBefore = await calls('crio wipe -f');
  const h = await env.start('snoUpgradeRecovery', uniqueId('sno-restart'), { node: 'sno-node', requestedBy: 'alice' });
  await approve(h, 'restore-files');
  await approve(h, 'restore-cluster');
  let v = await settled(h);
  assert.equal(v.status, 'Parked');
  assert.equal(v.parked?.step, 'restore the cluster database');
  assert.match(v.parked!.error, /lab fault: cluster-restore.sh fails once/);
  assert.deepEqual(
    (await node('cat /var/recovery/progress')).trim().split('\n'),
    ['started', 'restore_files'],
    "the node's progress file says where the recovery stands",
  );
  await h.executeUpdate('decide', { args: [{ decision: 'restart', operator: 'bob', reason: 'test: --restart' }] });
  const again = await approve(h, 'restore-files');
  assert.match(again.openGate!.plan[1]!, /RESTART #1/);
  await approve(h, 'restore-cluster');
  v = await settled(h);
  assert.equal(v.status, 'Completed', `${v.parked?.step}: ${v.parked?.error}`);
  assert.equal(await calls('crio wipe -f'), wipesBefore + 2, 'stage 1 ran twice: once, then again after the restart');
  assert.equal((await etcd('get /registry/namespaces/after-backup-2')).trim(), '');
  assert.equal(v.decisions[0]?.decision, 'restart');
  await saveHistory(h, 'snoUpgradeRecovery-restart');
});

test('a backup past its deadline shows Timeout and continues on retry', async () => {
  // etcd answers slowly once: the snapshot runs past the Active phase's 30 s deadline (host-side timeout).
  await node('mkdir -p /var/lib/lab-faults && echo 45 > /var/lib/lab-faults/cluster-backup-slow');
  const h = await env.start('snoPreUpgradeBackup', uniqueId('sno-timeout'), { node: 'sno-node', marginMiB: 1, timeoutSeconds: 30, requestedBy: 'alice' });
  await approve(h, 'clear-leftovers');
  // The recovery before left the previous release (4.14) as a standby again.
  await approve(h, 'remove-standby-deployments');
  let v = await settled(h);
  assert.equal(v.status, 'Parked');
  assert.equal(v.parked?.step, 'etcd snapshot and static pod resources');
  assert.match(v.parked!.error, /timed out after \d+s/);
  assert.equal(await phaseOf(h), 'Timeout');
  await h.executeUpdate('decide', { args: [{ decision: 'retry', operator: 'bob', reason: 'test: etcd is back' }] });
  v = await settled(h);
  assert.equal(v.status, 'Completed', `${v.parked?.step}: ${v.parked?.error}`);
  assert.equal(await phaseOf(h), 'Succeeded');
});

test('the standalone upgrade-recovery.sh recovers the node without Temporal: stage 1, reboot, --resume', async () => {
  await etcd('put /registry/namespaces/script-test z');
  await node('echo changed > /etc/script-test.conf');
  const before = (await node('cat /proc/sys/kernel/random/boot_id')).trim();
  const stage1 = await node('/var/recovery/upgrade-recovery.sh --dir /var/recovery');
  assert.match(stage1, /stage 1 done: reboot now/);
  assert.deepEqual((await node('cat /var/recovery/progress')).trim().split('\n'), ['started', 'restore_files']);
  await node('systemctl reboot');
  await waitFor('the node to reboot', async () => (await node('cat /proc/sys/kernel/random/boot_id').catch(() => before)).trim() !== before, 60_000);
  const refused = await node('/var/recovery/upgrade-recovery.sh --dir /var/recovery 2>&1 || echo refused');
  assert.match(refused, /a recovery is in progress .*use --resume or --restart/, 'without --resume the script refuses, as upgrade-recovery.sh does');
  assert.match(await node('/var/recovery/upgrade-recovery.sh --dir /var/recovery --resume'), /recovery complete/);
  assert.equal((await etcd('get /registry/namespaces/script-test')).trim(), '');
  assert.equal((await node('ls /etc/script-test.conf /var/recovery/progress 2>/dev/null | wc -l')).trim(), '0');
});
