// The heavy test (`npm run test:heavy`, not part of `npm test`: ~1 min to build, ~3 min to boot under TCG):
// a REAL rescue ISO built here by `rear mkrescue` (ReaR 2.7 from Debian, this machine's installed kernel),
// recorded on the store as rearBackup records it, then rearControllerRecovery boots a q35 domain from it
// through the edited definition, and the test logs into the booted rescue system over SSH (QEMU user-mode
// network, port forward). The operator's `rear recover` is not run: the lab disk has no partitioned system
// to restore (a real `mkbackup` would tar this whole machine). Then the original definition must be back.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'ssh2';
import { normaliseDomainXml } from '../../activities/libvirt/libvirt-xml.js';
import { libvirtUp, removeLabDomain, resetLabDomain, serialLogOf, type LabDomain, type LibvirtLayout } from '../../scripts/lab/libvirt.js';
import type { LabOptions } from '../../scripts/lab/layout.js';
import type { RunbookResult } from '../../workflows/engine/runbook.js';
import { onHost, scratchDir, status, testEnv, uniqueId, waitFor, type RunningWorker, type TestEnv } from '../harness.js';

let env: TestEnv;
let worker: RunningWorker;
let lv: LibvirtLayout;
const lab = JSON.parse(process.env.RUNBOOK_TEST_LAB ?? '{}') as LabOptions;
const storeBase = `/srv/runbooks-rr-heavy-${Math.random().toString(36).slice(2, 8)}`;
const DOMAIN = 'controller-0-heavy';
/** Valid only inside this throwaway rescue image, which only listens on a loopback port forward. */
const RESCUE_PASSWORD = 'rescue-heavy-test';
const KERNEL = (() => {
  const v = execFileSync('sh', ['-c', 'ls /boot/vmlinuz-* | sort -V | tail -n1'], { encoding: 'utf8' }).trim();
  return { file: v, version: v.replace('/boot/vmlinuz-', '') };
})();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * `rear mkrescue` with its own config dir (not /etc/rear). The output must be on a filesystem of its own
 * (ReaR refuses '/'), hence the tmpfs; the kernel is named because ReaR cannot detect this machine's.
 */
function mkrescue(dir: string): { file: string; sha256: string; bytes: number } {
  const out = join(dir, 'out');
  mkdirSync(out, { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2G', 'tmpfs', out]);
  try {
    writeFileSync(
      join(dir, 'etc', 'local.conf'),
      [
        'OUTPUT=ISO',
        'BACKUP=NETFS',
        `BACKUP_URL=file://${out}`,
        `ISO_DIR=${out}/iso`,
        'OUTPUT_URL=null',
        'ISO_PREFIX=rear-controller-0',
        `KERNEL_FILE=${KERNEL.file}`,
        `KERNEL_VERSION=${KERNEL.version}`,
        'BOOTLOADER=GRUB2',
        'ISO_DEFAULT=manual',
        'KERNEL_CMDLINE="$KERNEL_CMDLINE console=ttyS0,115200 net.ifnames=0"',
        'USE_DHCLIENT=yes',
        'MODULES_LOAD+=( virtio_pci virtio_net virtio_blk )',
        `SSH_ROOT_PASSWORD='${RESCUE_PASSWORD}'`,
        '',
      ].join('\n'),
    );
    execFileSync('rear', ['-c', join(dir, 'etc'), 'mkrescue'], { cwd: dir, stdio: 'pipe', timeout: 15 * 60_000 });
    const file = join(dir, 'rear-controller-0.iso');
    copyFileSync(join(out, 'iso', 'rear-controller-0.iso'), file);
    const data = readFileSync(file);
    return { file, sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
  } finally {
    execFileSync('umount', [out]);
  }
}

/** One command in the rescue system over SSH, as root with the image's password. */
function rescueSsh(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    let out = '';
    c.on('ready', () =>
      c.exec(command, (err, ch) => {
        if (err) return reject(err);
        ch.on('data', (b: Buffer) => (out += b));
        ch.on('close', () => {
          c.end();
          resolve(out);
        });
      }),
    );
    c.on('error', reject);
    c.connect({ host: '127.0.0.1', port, username: 'root', password: RESCUE_PASSWORD, readyTimeout: 10_000 });
  });
}

before(async () => {
  env = await testEnv();
  lv = await libvirtUp(lab, []);
  worker = await env.startWorker({ config: { libvirt: { uri: null, sudo: false, isoDir: lv.images } } });
});
after(async () => {
  rmSync(storeBase, { recursive: true, force: true });
  await removeLabDomain(lab.dir, DOMAIN).catch(() => undefined);
  await worker?.stop();
  await env?.close();
});

test(
  'a real `rear mkrescue` ISO boots through the edited definition; its rescue system answers SSH; the original definition is back',
  { timeout: 30 * 60_000 },
  async () => {
    const iso = mkrescue(scratchDir('rear-mkrescue'));
    const dir = join(storeBase, 'controller-0');
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    copyFileSync(iso.file, join(dir, 'rear-controller-0.iso'));
    // recordRefusal wants the archive's checksum and size, and the preflight measures the archive itself.
    writeFileSync(join(dir, 'stand-in'), 'stand-in backup archive\n');
    execFileSync('tar', ['-czf', join(dir, 'backup.tar.gz'), '-C', dir, 'stand-in']);
    const archive = readFileSync(join(dir, 'backup.tar.gz'));
    const recordedAt = new Date().toISOString();
    const record = JSON.stringify({
      host: 'controller-0',
      iso: { file: 'rear-controller-0.iso', sha256: iso.sha256, bytes: iso.bytes },
      backup: { file: 'backup.tar.gz', sha256: createHash('sha256').update(archive).digest('hex'), bytes: archive.length },
      rearVersion: '2.7',
      recordedAt,
      createdAt: recordedAt,
      location: 'controller-0/runbook-record.json',
    });
    writeFileSync(join(dir, 'runbook-record.json'), record);
    // Signed as rearBackup does, with the lab worker's key.
    const key = join(env.config.dataDir, 'keys', 'bundle-signing');
    writeFileSync(
      join(dir, 'runbook-record.json.sig'),
      execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-f', key, '-n', 'runbooks-backup'], { input: record }),
    );

    const port = await freePort();
    const domain: LabDomain = { name: DOMAIN, machine: 'q35', bootStyle: 'os', memoryMiB: 1536, sshForwardPort: port };
    await resetLabDomain(lab.dir, domain);
    const original = onHost(env.inventory, 'hypervisor', `virsh dumpxml --inactive ${DOMAIN}`);

    const h = await env.start('rearControllerRecovery', uniqueId('rear-heavy'), {
      hypervisor: 'hypervisor',
      domain: DOMAIN,
      host: 'controller-0',
      store: 'backup-store',
      storePath: storeBase,
      mode: 'manual',
      shutdownTimeoutSeconds: 60,
      requestedBy: 'alice',
    });
    await waitFor('gate boot-rescue', async () => (await status(h)).openGate?.name === 'boot-rescue', 10 * 60_000);
    await h.executeUpdate('approve', { args: [{ gate: 'boot-rescue', approver: 'bob', reason: 'heavy test' }] });

    const seen = await waitFor(
      'SSH into the rescue system',
      async () => rescueSsh(port, 'rear --version; test -f /etc/rear/rescue.conf && echo RESCUE-CONF'),
      15 * 60_000,
    );
    assert.match(seen, /Relax-and-Recover 2\.7/);
    assert.match(seen, /RESCUE-CONF/, 'the rescue system, not the installed one');
    assert.match(readFileSync(serialLogOf(lv, DOMAIN), 'utf8'), /Relax-and-Recover/);

    await waitFor('gate rear-recover-finished', async () => (await status(h)).openGate?.name === 'rear-recover-finished', 60_000);
    await h.executeUpdate('approve', { args: [{ gate: 'rear-recover-finished', approver: 'bob', reason: 'heavy test: rescue reached' }] });
    const r = (await h.result()) as RunbookResult;
    assert.equal(r.status, 'Completed');
    assert.equal(normaliseDomainXml(onHost(env.inventory, 'hypervisor', `virsh dumpxml --inactive ${DOMAIN}`)), normaliseDomainXml(original));
    await waitFor('the disk boot after the rescue', async () => readFileSync(serialLogOf(lv, DOMAIN), 'utf8').includes(`DISK ${DOMAIN}`), 120_000);
  },
);
