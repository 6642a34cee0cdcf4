// rearBackup on the lab's controller-0 (real ReaR 2.7 as root, in the host's own namespace: see
// scripts/lab/rear-controller.ts) into the lab's backup-store, prepared by rearPrepareStore for a throwaway
// backup user. The lab backs up only a small include list (the node shares the machine's filesystem); the
// rescue ISO is the real one. Everything asserted is re-read on the hosts over plain ssh.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import type { BackupRecord } from '../workflows/rear/backup-steps.js';
import { saveHistory } from './history-files.js';
import { historyText, onHost, resultApproving, testEnv, textOf, uniqueId, waitFor, type RunningWorker, type TestEnv } from './harness.js';

let env: TestEnv;
let worker: RunningWorker;
const suffix = Math.random().toString(36).slice(2, 8);
// rbk*: the lab store's sshd lets such users in with their own keys (scripts/lab/sshd-host.ts).
const user = `rbk${suffix}`;
const base = `/srv/runbooks-test-${suffix}`;
const path = `${base}/backup`;
const store = (script: string): string => onHost(env.inventory, 'backup-store', script);
const controller = (script: string): string => onHost(env.inventory, 'controller-0', script);

before(async () => {
  env = await testEnv();
  worker = await env.startWorker();
});
afterEach(async () => env?.endRuns());
after(async () => {
  // The lab's hosts share the machine's /etc/passwd and /srv: leave no test account or backup behind.
  store(`sudo -n userdel ${user} 2>/dev/null; sudo -n groupdel ${user} 2>/dev/null; sudo -n rm -rf ${base}; true`);
  await worker?.stop();
  await env?.close();
});

test('rearBackup renders a config rear dump accepts, builds the ISO and backup on controller-0, uploads them and records their checksums', async () => {
  const prepared = (await resultApproving(
    await env.start('rearPrepareStore', uniqueId('rear-backup-store'), { store: 'backup-store', user, path, requestedBy: 'alice' }),
    ['prepare-store'],
  )) as RunbookResult;
  assert.equal(prepared.status, 'Completed');

  // The rescue kernel is whichever Debian kernel is installed (this machine's own kernel has no /boot file).
  const kernel = controller('ls /boot/vmlinuz-* | head -n1').trim().replace('/boot/vmlinuz-', '');
  assert.ok(kernel, 'a kernel is installed in /boot');
  const input = {
    nodes: ['controller-0'],
    store: 'backup-store',
    user,
    path,
    output: 'ISO',
    backup: 'NETFS',
    exclude: ['/root/.cache/*'],
    includeOnly: ['/etc/rear', '/root'],
    rescueKernel: kernel,
    bootloader: 'GRUB2',
    requestedBy: 'alice',
  };

  const plan = (await (await env.start('rearBackup', uniqueId('rear-backup-dry'), { ...input, dryRun: true })).result()) as RunbookResult;
  assert.ok(
    plan.plan?.some((p) => p.commands.some((c) => c === 'controller-0$ sudo timeout 14400 rear -v mkbackup')),
    'the dry run plans mkbackup',
  );
  assert.equal(store(`sudo -n ls -A ${path}`).trim(), '', 'the dry run wrote nothing to the store');

  const h = await env.start('rearBackup', uniqueId('rear-backup'), input);
  // The long command reports progress: its heartbeats carry ReaR's latest output line.
  const heartbeat = await waitFor(
    'a heartbeat of rear -v mkbackup carrying its output',
    async () => {
      const d = await h.describe();
      for (const a of d.raw.pendingActivities ?? []) {
        const text = textOf(a.heartbeatDetails).join(' ');
        if (/"lastLine":"[^"]*(Creating|Copying|Making|Running|Using|Verifying|Wrote|Testing)/.test(text)) return text;
      }
      return undefined;
    },
    10 * 60_000,
  );
  assert.match(heartbeat, /stdoutBytes/);
  const r = (await h.result()) as RunbookResult;
  assert.equal(r.status, 'Completed');
  const out = r.output as { records: BackupRecord[] };
  const rec = out.records[0]!;
  const dir = `${path}/controller-0`;

  // The configuration ReaR read: our store, key-based (no password anywhere), accepted by rear dump.
  const conf = controller('sudo -n cat /etc/rear/local.conf');
  assert.match(conf, new RegExp(`^OUTPUT_URL='sftp://${user}:@backup-store${path}/controller-0/'$`, 'm'));
  assert.match(conf, new RegExp(`^BACKUP_URL='sshfs://${user}@backup-store${path}/'$`, 'm'));
  assert.match(controller('sudo -n rear dump 2>&1'), new RegExp(`BACKUP_URL="sshfs://${user}@backup-store`));
  assert.ok(r.steps.some((s) => s.name === 'controller-0: rear dump' && s.state === 'ok'));

  // The files on the store, measured independently, are the ones recorded.
  for (const [f, want] of [
    [`rear-controller-0.iso`, rec.iso],
    ['backup.tar.gz', rec.backup],
  ] as const) {
    const [bytes, sum] = store(`sudo -n stat -c %s ${dir}/${f} && sudo -n sha256sum ${dir}/${f} | cut -d' ' -f1`).trim().split('\n');
    assert.deepEqual(want, { file: f, bytes: Number(bytes), sha256: sum });
  }
  assert.ok(rec.iso.bytes > 10 * 1024 * 1024, `a real rescue ISO (${rec.iso.bytes} bytes)`);
  assert.equal(store(`sudo -n dd if=${dir}/rear-controller-0.iso bs=1 skip=32769 count=5 2>/dev/null`), 'CD001', 'ISO 9660 signature');
  assert.match(store(`sudo -n tar tzf ${dir}/backup.tar.gz`), /^etc\/rear\/local\.conf$/m, 'the include list went into the backup');
  assert.equal(store(`sudo -n stat -c '%U' ${dir}/rear-controller-0.iso`).trim(), user, 'uploaded as the backup user');

  // What the rescue image carries (the ISO lies on the store, beside the backup): the store's pinned key in
  // root's known_hosts, and no key for the store. That comes at recovery time (rearControllerRecovery).
  // Filtered on the store: the whole listing is more than the 1 MB a synchronous ssh may print.
  const [entries = '0', ...initrd] = store(
    `sudo -n sh -c 'f=$(mktemp -u) && xorriso -osirrox on -indev ${dir}/rear-controller-0.iso -extract /isolinux/initrd.cgz "$f" >/dev/null 2>&1 && zcat "$f" | cpio -it --quiet > "$f.list"; wc -l < "$f.list"; grep "^root/.ssh/" "$f.list"; rm -f "$f" "$f.list"'`,
  )
    .split('\n')
    .filter(Boolean);
  assert.ok(Number(entries) > 100, `the rescue initrd lists (${entries} entries)`);
  assert.ok(initrd.includes('root/.ssh/known_hosts'), "the store's pinned host key is in the rescue image");
  assert.deepEqual(
    initrd.filter((f) => /^root\/\.ssh\/id_/.test(f)),
    [],
    "root's store key is not in the rescue image",
  );

  // The backup record next to them, in the agreed shape, equal to the run's output.
  const onStore = JSON.parse(store(`sudo -n cat ${dir}/runbook-record.json`)) as BackupRecord;
  assert.deepEqual(onStore, rec);
  assert.deepEqual(Object.keys(onStore), [
    'host',
    'iso',
    'backup',
    'rearVersion',
    'unattended',
    'recordedAt',
    'createdAt',
    'location',
    'workflowId',
    'runId',
    'identity',
  ]);
  // What the recovered machine must match, read from the node before mkbackup and signed with the record.
  const id = onStore.identity!;
  assert.equal(id.hostname, controller('uname -n').trim());
  assert.equal(id.machineId, controller('cat /etc/machine-id').trim());
  assert.equal(id.bootId, controller('cat /proc/sys/kernel/random/boot_id').trim());
  assert.equal(id.sshKey, env.inventory.hosts['controller-0']!.hostKey.split(' ').slice(0, 2).join(' '), 'the key the link pinned');
  assert.deepEqual(Object.keys(id.files), ['/etc/hostname', '/etc/machine-id', '/etc/passwd', '/etc/group']);
  assert.equal(id.files['/etc/passwd'], controller('sha256sum < /etc/passwd').split(' ')[0]);
  assert.equal(onStore.location, 'controller-0/runbook-record.json');
  assert.match(store(`sudo -n cat ${dir}/runbook-record.json.sig`), /^-----BEGIN SSH SIGNATURE-----/, 'signed by the worker');
  assert.equal(onStore.host, 'controller-0');
  assert.equal(onStore.workflowId, h.workflowId);
  assert.equal(onStore.runId, (await h.describe()).runId);
  assert.match(onStore.rearVersion, /^2\.7/);
  assert.ok(!Number.isNaN(Date.parse(onStore.recordedAt)));

  // Key-based only: no private key or password in the run's history.
  const text = await historyText(h);
  assert.doesNotMatch(text, /PRIVATE KEY|SSH_ROOT_PASSWORD=|:backup@/);
  await saveHistory(h, 'rearBackup');
});
