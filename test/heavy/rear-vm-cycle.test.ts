// The whole ReaR cycle on a REAL machine (issue 19): the lab's Debian controller VM (scripts/lab/controller-vm.ts)
// boots from its own disk under TCG on the lab's libvirtd; rearBackup backs it up whole (no include list)
// into the lab's backup-store; the test wipes its disk (an empty qcow2 in its place: no partition table, no
// filesystem); rearControllerRecovery boots the rescue ISO, where ReaR's unattended mode runs `rear recover`
// (mounting the store with the key this run made, on its RBKEY drive: the image holds none), and the VM then
// boots from its disk. Before the damage, rearRecoveryDrill recovers the same backup into a throwaway copy.
// The recovered machine must have the same hostname, /etc/machine-id, the same files written before the
// backup, and sshd the same host key. The VM reaches the store through QEMU's user-mode network: 10.0.2.2 is
// this machine's 127.0.0.1, where the test relays a port to the store's sshd (guestfwd cannot: its tcp: form
// is one connection opened at QEMU's start, its cmd: form needs a fork libvirt's QEMU sandbox refuses). The
// worker reaches the store through the same relay: one address, one pinned key. Phase times are printed.
import assert from 'node:assert/strict';
import { chownSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'ssh2';
import { controllerVmDisk, controllerVmImage, wipeControllerVmDisk, type ControllerVmImage } from '../../scripts/lab/controller-vm.js';
import { diskOf, labDomainXml, labVirsh, libvirtUp, removeLabDomain, serialLogOf, type LabDomain, type LibvirtLayout } from '../../scripts/lab/libvirt.js';
import type { LabOptions } from '../../scripts/lab/layout.js';
import { ensureLoginUser } from '../../scripts/lab/login-user.js';
import type { Inventory } from '../../workers/inventory.js';
import type { RunbookResult } from '../../workflows/engine/runbook.js';
import { onHost, resultApproving, testEnv, uniqueId, waitFor, type RunningWorker, type TestEnv } from '../harness.js';

let env: TestEnv;
let worker: RunningWorker;
let lv: LibvirtLayout;
let img: ControllerVmImage;
const lab = JSON.parse(process.env.RUNBOOK_TEST_LAB ?? '{}') as LabOptions;
const suffix = Math.random().toString(36).slice(2, 8);
const user = `rbk${suffix}`;
const storeBase = `/srv/runbooks-vm-${suffix}`;
const path = `${storeBase}/backup`;
const DOMAIN = 'controller-0';
const MARKERS = ['/root/marker-before-backup', '/etc/rear-cycle-marker', '/var/lib/rear-cycle/data.bin'];
const phases: Record<string, number> = {};
let relay: Server | undefined;

/** 127.0.0.1:<port> → the store's sshd, one connection per connection. */
function storeRelay(to: { address: string; port: number }): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((c) => {
      const s = connect(to.port, to.address);
      c.pipe(s).pipe(c);
      const end = () => (c.destroy(), s.destroy());
      c.on('error', end);
      s.on('error', end);
    });
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      if (typeof a === 'object' && a) resolve({ server, port: a.port });
      else reject(new Error('no relay port'));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** One command on the VM as rbops (sudo for root), pinning its host key. */
function vmSsh(port: number, command: string): Promise<{ out: string; hostKey: string }> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    let out = '';
    let hostKey = '';
    c.on('ready', () =>
      c.exec(command, (err, ch) => {
        if (err) return reject(err);
        ch.on('data', (b: Buffer) => (out += b));
        ch.stderr.on('data', (b: Buffer) => (out += b));
        ch.on('close', (code: number) => {
          c.end();
          if (code === 0) resolve({ out, hostKey });
          else reject(new Error(`exit ${code}: ${out}`));
        });
      }),
    );
    c.on('error', reject);
    c.connect({
      host: '127.0.0.1',
      port,
      username: 'rbops',
      privateKey: readFileSync(img.identityFile),
      readyTimeout: 20_000,
      hostVerifier: (key: Buffer) => {
        hostKey = `ssh-ed25519 ${key.toString('base64')}`;
        return hostKey === img.hostKey;
      },
    });
  });
}

const timed = async <T>(phase: string, f: () => Promise<T>): Promise<T> => {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    phases[phase] = Math.round((Date.now() - t0) / 1000);
    console.log(`phase ${phase}: ${phases[phase]} s`);
  }
};

before(async () => {
  env = await testEnv();
  lv = await libvirtUp(lab, []);
  img = await timed('image (cached after the first build)', () => controllerVmImage(process.cwd()));
});
after(async () => {
  onHost(env.inventory, 'backup-store', `sudo -n userdel ${user} 2>/dev/null; sudo -n groupdel ${user} 2>/dev/null; sudo -n rm -rf ${storeBase}; true`);
  await removeLabDomain(lab.dir, DOMAIN).catch(() => undefined);
  relay?.close();
  await worker?.stop();
  await env?.close();
  console.log(`phases (s): ${JSON.stringify(phases)}`);
});

test('mkbackup of a real VM, its disk wiped, rescue boot, rear recover, first boot from disk: the same machine', { timeout: 3 * 3600_000 }, async () => {
  const port = await freePort();
  const store = env.inventory.hosts['backup-store']!;
  const owner = await ensureLoginUser();
  const domain: LabDomain = { name: DOMAIN, machine: 'q35', bootStyle: 'os', memoryMiB: 1536, sshForwardPort: port };
  const r = await storeRelay(store);
  relay = r.server;
  const xml = labDomainXml(lv, domain);
  await labVirsh(lab.dir, ['destroy', DOMAIN], { reject: false });
  await labVirsh(lab.dir, ['undefine', DOMAIN], { reject: false });
  await controllerVmDisk(img, diskOf(lv, DOMAIN), owner);
  writeFileSync(serialLogOf(lv, DOMAIN), '');
  chownSync(serialLogOf(lv, DOMAIN), owner.uid, owner.gid);
  const def = join(lv.dir, `${DOMAIN}.vm.xml`);
  writeFileSync(def, xml, { mode: 0o644 });
  await labVirsh(lab.dir, ['define', def]);
  await labVirsh(lab.dir, ['start', DOMAIN]);
  await timed('boot', () => waitFor('SSH on the controller VM', async () => (await vmSsh(port, 'true')).hostKey, 15 * 60_000));

  // What must survive: identity and files written now, before the backup.
  const before = (
    await vmSsh(
      port,
      `sudo sh -c 'echo "10.0.2.2 backup-store" >> /etc/hosts; echo marker-${suffix} > /root/marker-before-backup; date > /etc/rear-cycle-marker; mkdir -p /var/lib/rear-cycle; head -c 1000000 /dev/urandom > /var/lib/rear-cycle/data.bin; sync; hostname; cat /etc/machine-id; sha256sum ${MARKERS.join(' ')}; cat /etc/fstab; lsblk -rno NAME,TYPE,FSTYPE,LABEL /dev/vda'`,
    )
  ).out;

  const inventory: Inventory = {
    ...env.inventory,
    hosts: {
      ...env.inventory.hosts,
      // The store as the VM sees it (10.0.2.2 = this machine's 127.0.0.1): the relay's port, the store's key.
      'backup-store': { ...store, address: '127.0.0.1', port: r.port },
      [DOMAIN]: {
        address: '127.0.0.1',
        port,
        user: 'rbops',
        hostKey: img.hostKey,
        identityFile: img.identityFile,
        sudo: true,
        maxSessions: 10,
        maxConnections: 4,
      },
    },
  };
  worker = await env.startWorker({ inventory, config: { libvirt: { uri: null, sudo: false, isoDir: lv.images } } });

  const prepared = (await resultApproving(
    await env.start('rearPrepareStore', uniqueId('rear-vm-store'), { store: 'backup-store', user, path, requestedBy: 'alice' }),
    ['prepare-store'],
  )) as RunbookResult;
  assert.equal(prepared.status, 'Completed');
  const backup = (await timed('mkbackup (rearBackup, whole run)', async () =>
    resultApproving(
      await env.start('rearBackup', uniqueId('rear-vm-backup'), {
        nodes: [DOMAIN],
        store: 'backup-store',
        user,
        path,
        unattended: true,
        verifyFiles: ['/etc/hostname', '/etc/machine-id', ...MARKERS],
        requestedBy: 'alice',
      }),
      [],
    ),
  )) as RunbookResult;
  assert.equal(backup.status, 'Completed', JSON.stringify(backup.output));
  const recorded = (backup.output as { records: { identity?: { machineId: string; hostKeys: string[]; files: Record<string, string | null> } }[] }).records[0]!
    .identity;
  assert.ok(recorded && before.includes(recorded.machineId), 'the signed record holds the machine-id read before the backup');
  assert.ok(recorded.hostKeys.includes(img.hostKey), "the record holds sshd's pinned host key");
  for (const m of MARKERS) assert.ok(before.includes(`${recorded.files[m]}  ${m}`), `the record holds ${m}'s sha256`);

  // The drill first, while the controller runs: its backup recovered into a throwaway copy beside it (its own
  // disk, UUID and SSH forward), booted to its login prompt, removed. The controller is never touched.
  const drillPort = await freePort();
  const drill = (await timed('drill (copy: rescue boot + rear recover + first boot)', async () =>
    resultApproving(
      await env.start('rearRecoveryDrill', uniqueId('rear-vm-drill'), {
        hypervisor: 'hypervisor',
        domain: DOMAIN,
        store: 'backup-store',
        storePath: path,
        user,
        sshPort: drillPort,
        recoverTimeoutSeconds: 3 * 3600,
        bootTimeoutSeconds: 1800,
        stopTimeoutSeconds: 60,
        requestedBy: 'alice',
      }),
      [],
    ),
  )) as RunbookResult;
  assert.equal(drill.status, 'Completed', JSON.stringify(drill.output));
  const drilled = drill.output as { recovery: string; boot: string; removed: string };
  assert.equal(drilled.recovery, 'recovery: finished');
  assert.match(drilled.boot, /^booted: "controller-0 login:"/);
  assert.match(drilled.removed, /undefined controller-0-drill[\s\S]*removed/);
  assert.deepEqual((drill.output as { hostKeys?: unknown }).hostKeys, { offered: 1, recorded: 'all recorded' }, "the copy's sshd offers the recorded key");
  assert.equal((await labVirsh(lab.dir, ['domstate', `${DOMAIN}-drill`], { reject: false })).exitCode, 1, 'the copy is gone');
  const during = (await vmSsh(port, 'cat /etc/machine-id')).out;
  assert.ok(before.includes(during.trim()), 'the controller ran on, untouched, through the drill');

  // The damage: power off, the disk replaced by an empty one (partition table and filesystem gone).
  await labVirsh(lab.dir, ['destroy', DOMAIN], { reject: false });
  await wipeControllerVmDisk(diskOf(lv, DOMAIN), owner);

  const recovery = (await timed('recovery (rescue boot + rear recover + first boot)', async () =>
    resultApproving(
      await env.start('rearControllerRecovery', uniqueId('rear-vm-recovery'), {
        hypervisor: 'hypervisor',
        domain: DOMAIN,
        store: 'backup-store',
        storePath: path,
        user,
        mode: 'unattended',
        controller: DOMAIN,
        bootTimeoutSeconds: 1800,
        shutdownTimeoutSeconds: 60,
        recoverTimeoutSeconds: 3 * 3600,
        requestedBy: 'alice',
      }),
      ['boot-rescue'],
    ),
  )) as RunbookResult;
  assert.equal(recovery.status, 'Completed', JSON.stringify(recovery.output));
  assert.equal((recovery.output as { recovery: string }).recovery, 'recovery: finished');
  // The workflow's own comparison, once the machine answered from its disk: the same machine as recorded.
  assert.deepEqual((recovery.output as { matches?: unknown }).matches, {
    hostname: DOMAIN,
    machineId: recorded.machineId,
    hostKeys: recorded.hostKeys.length,
    files: 2 + MARKERS.length,
  });
  const compared = recovery.steps.find((st) => st.name === `compare ${DOMAIN} with the backup record`);
  assert.equal(compared?.state, 'ok', JSON.stringify(recovery.steps.slice(-4)));
  const serial = readFileSync(serialLogOf(lv, DOMAIN), 'utf8');
  assert.match(serial, /'rear recover' finished successfully/);

  const after = await timed('first boot from disk', () => waitFor('SSH on the recovered VM', async () => vmSsh(port, 'true'), 15 * 60_000));
  assert.equal(after.hostKey, img.hostKey, 'sshd answers with the same host key');
  const now = (
    await vmSsh(port, `sudo sh -c 'hostname; cat /etc/machine-id; sha256sum ${MARKERS.join(' ')}; cat /etc/fstab; lsblk -rno NAME,TYPE,FSTYPE,LABEL /dev/vda'`)
  ).out;
  const lines = (t: string) =>
    t
      .trim()
      .split('\n')
      .slice(-(3 + MARKERS.length + 4));
  assert.deepEqual(lines(now).slice(0, 2 + MARKERS.length), lines(before).slice(0, 2 + MARKERS.length), 'hostname, machine-id and files');
  assert.match(now, /vda1 part ext4 root/);
  // The rescue system mounted the store with this run's key, picked up from its RBKEY drive (ReaR's LogPrint:
  // on the console, so in the serial log).
  assert.match(serial, /runbooks: the store key of this recovery read from \/dev\//);
  const history = JSON.stringify(recovery);
  assert.doesNotMatch(history, /PRIVATE KEY/);
  assert.deepEqual(
    onHost(
      env.inventory,
      'backup-store',
      `h=$(getent passwd ${user} | cut -d: -f6); sudo -n grep -c runbooks-recovery "$h/.ssh/authorized_keys" 2>/dev/null; true`,
    ).trim() || '0',
    '0',
    'the recovery key is off the store',
  );
});
