// The lab's hypervisor (`npm run lab -- up --with libvirt`): a real libvirtd 9.0 started by hand (no systemd
// here), unprivileged, as the lab user in session mode (qemu:///session) with all its state under
// <lab>/lv, running real QEMU guests under TCG (/dev/kvm is root-only and Linux guests hang under the nested
// KVM here). The `hypervisor` host's virsh reaches it through uri_default in rbops' libvirt.conf (that
// host's own home), exactly as a real hypervisor's virsh reaches its local daemon. Two domains play the
// damaged controller: `controller-0` (q35, <os><boot dev='hd'/>) and `controller-0-i440fx` (pc, per-device
// <boot order>), each with a small qcow2 disk whose boot sector prints "DISK <name>" on the serial port,
// logged to a file the tests read (and `virsh console` still works: the serial is a pty).
import { spawn } from 'node:child_process';
import { access, chown, mkdir, open, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { hostLayout, LAB_USER, type LabOptions } from './layout.js';
import { ensureLoginUser } from './login-user.js';
import { commandLine, isAlive, ownedPid, readPidfile } from './owned-process.js';
import { diskBootSector } from './serial-boot-sector.js';
import { waitFor } from './wait.js';

export interface LabDomain {
  name: string;
  /** Machine type as written; libvirt expands it (q35 → pc-q35-7.2). */
  machine: 'q35' | 'pc';
  /** 'os': <os><boot dev='hd'/>; 'per-device': <boot order='1'/> on the disk. */
  bootStyle: 'os' | 'per-device';
  memoryMiB: number;
  /** A user-mode NIC with 127.0.0.1:<port> forwarded to the guest's :22 (the heavy test's rescue system). */
  sshForwardPort?: number;
}

export const LAB_DOMAINS: LabDomain[] = [
  { name: 'controller-0', machine: 'q35', bootStyle: 'os', memoryMiB: 128 },
  { name: 'controller-0-i440fx', machine: 'pc', bootStyle: 'per-device', memoryMiB: 128 },
];

export interface LibvirtLayout {
  dir: string;
  runtime: string;
  config: string;
  conf: string;
  images: string;
  logs: string;
  socket: string;
  uri: string;
  pidfile: string;
  log: string;
}

export function libvirtLayout(labDir: string): LibvirtLayout {
  const dir = path.join(labDir, 'lv');
  const runtime = path.join(dir, 'run');
  const socket = path.join(runtime, 'libvirt', 'libvirt-sock');
  return {
    dir,
    runtime,
    config: path.join(dir, 'config'),
    conf: path.join(dir, 'config', 'libvirt', 'libvirtd.conf'),
    images: path.join(dir, 'images'),
    logs: path.join(dir, 'log'),
    socket,
    uri: `qemu+unix:///session?socket=${socket}`,
    pidfile: path.join(runtime, 'libvirt', 'libvirtd.pid'),
    log: path.join(dir, 'libvirtd.log'),
  };
}

export const serialLogOf = (lv: LibvirtLayout, domain: string): string => path.join(lv.logs, `${domain}.serial.log`);
export const diskOf = (lv: LibvirtLayout, domain: string): string => path.join(lv.images, `${domain}.qcow2`);

/** The lab's definition of a domain: what `up` defines and what tests reset to. */
export function labDomainXml(lv: LibvirtLayout, d: LabDomain): string {
  const bootOrder = d.bootStyle === 'per-device' ? "\n      <boot order='1'/>" : '';
  const osBoot = d.bootStyle === 'os' ? "\n    <boot dev='hd'/>" : '';
  // Session libvirt has no host networking for an unprivileged user; QEMU's own user-mode network with a
  // port forward is the one way in, passed through as QEMU arguments.
  const nic = d.sshForwardPort
    ? `  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=labnet,hostfwd=tcp:127.0.0.1:${d.sshForwardPort}-:22'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=labnet,bus=pcie.0,addr=0x10'/>
  </qemu:commandline>
`
    : '';
  return `<domain type='qemu'${d.sshForwardPort ? " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" : ''}>
  <name>${d.name}</name>
  <memory unit='MiB'>${d.memoryMiB}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='${d.machine}'>hvm</type>${osBoot}
  </os>
  <features>
    <acpi/>
  </features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${diskOf(lv, d.name)}'/>
      <target dev='vda' bus='virtio'/>${bootOrder}
    </disk>
    <serial type='pty'>
      <log file='${serialLogOf(lv, d.name)}' append='on'/>
    </serial>
    <console type='pty'/>
  </devices>
${nic}</domain>
`;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** virsh against the lab's daemon, as the daemon's user (what the hypervisor host's virsh does too). */
export async function labVirsh(labDir: string, args: string[], opts: { reject?: boolean } = {}): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const lv = libvirtLayout(labDir);
  const r = await execa('runuser', ['-u', LAB_USER, '--', 'virsh', '-q', '-c', lv.uri, ...args], { reject: false, stdin: 'ignore' });
  if (opts.reject !== false && r.exitCode !== 0) throw new Error(`virsh ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

async function daemonPid(lv: LibvirtLayout): Promise<number | undefined> {
  return ownedPid(lv.pidfile, lv.conf);
}

export async function libvirtUp(opts: LabOptions, domains: LabDomain[] = LAB_DOMAINS): Promise<LibvirtLayout> {
  const lv = libvirtLayout(opts.dir);
  const user = await ensureLoginUser();
  for (const d of [lv.dir, lv.runtime, lv.config, path.dirname(lv.conf), path.join(lv.dir, 'cache'), lv.images, lv.logs]) {
    await mkdir(d, { recursive: true, mode: 0o755 });
    await chown(d, user.uid, user.gid);
  }
  // Sockets only (libvirtd listens on TCP only with --listen); the socket group-less 0770 keeps other users out.
  await writeFile(lv.conf, 'unix_sock_rw_perms = "0770"\n', { mode: 0o644 });
  if ((await daemonPid(lv)) === undefined) await startDaemon(lv);
  await waitFor('the lab libvirtd to answer', async () => (await labVirsh(opts.dir, ['uri'], { reject: false })).exitCode === 0, {
    timeoutMs: 20_000,
    intervalMs: 200,
  });

  // The hypervisor host's virsh (rbops, its own home) talks to this daemon by default.
  const home = hostLayout(opts.dir, 'hypervisor', '').home;
  const confDir = path.join(home, '.config', 'libvirt');
  await mkdir(confDir, { recursive: true });
  await writeFile(path.join(confDir, 'libvirt.conf'), `# lab: the hypervisor's virsh reaches the lab libvirtd\nuri_default = "${lv.uri}"\n`);
  for (const d of [path.join(home, '.config'), confDir, path.join(confDir, 'libvirt.conf')]) await chown(d, user.uid, user.gid);

  const defined = (await labVirsh(opts.dir, ['list', '--all', '--name'])).stdout.split('\n').map((s) => s.trim());
  for (const d of domains) if (!defined.includes(d.name)) await resetLabDomain(opts.dir, d);
  return lv;
}

async function startDaemon(lv: LibvirtLayout): Promise<void> {
  await rm(lv.pidfile, { force: true });
  const log = await open(lv.log, 'a', 0o644);
  try {
    const child = spawn(
      'runuser',
      [
        '-u',
        LAB_USER,
        '--',
        'env',
        '-i',
        'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
        `HOME=${lv.dir}`,
        `XDG_RUNTIME_DIR=${lv.runtime}`,
        `XDG_CONFIG_HOME=${lv.config}`,
        `XDG_CACHE_HOME=${path.join(lv.dir, 'cache')}`,
        '/usr/sbin/libvirtd',
        '--timeout',
        '0',
        '--config',
        lv.conf,
      ],
      { detached: true, stdio: ['ignore', log.fd, log.fd] },
    );
    child.unref();
  } finally {
    await log.close();
  }
  await waitFor('the lab libvirtd to write its pidfile', async () => (await daemonPid(lv)) !== undefined, { timeoutMs: 20_000, intervalMs: 100 });
}

/** Powers off and forgets a domain the lab does not keep (the heavy test's). */
export async function removeLabDomain(labDir: string, name: string): Promise<void> {
  if ((await labVirsh(labDir, ['domstate', name], { reject: false })).stdout.trim() === 'running') await labVirsh(labDir, ['destroy', name]);
  await labVirsh(labDir, ['undefine', name], { reject: false });
  const lv = libvirtLayout(labDir);
  await rm(diskOf(lv, name), { force: true });
}

/** Puts a domain back to the lab's definition: powered off, pristine disk, empty serial log. */
export async function resetLabDomain(labDir: string, d: LabDomain): Promise<void> {
  const lv = libvirtLayout(labDir);
  const user = await ensureLoginUser();
  if ((await labVirsh(labDir, ['domstate', d.name], { reject: false })).stdout.trim() === 'running') await labVirsh(labDir, ['destroy', d.name]);
  if ((await labVirsh(labDir, ['dominfo', d.name], { reject: false })).exitCode === 0) await labVirsh(labDir, ['undefine', d.name]);
  const raw = path.join(lv.images, `${d.name}.raw`);
  const bootSector = diskBootSector(`\nDISK ${d.name}: booted from the hard disk\n`);
  await writeFile(raw, Buffer.concat([bootSector, Buffer.alloc(1024 * 1024 - bootSector.length)]));
  await rm(diskOf(lv, d.name), { force: true });
  await execa('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, diskOf(lv, d.name)]);
  await execa('qemu-img', ['resize', '-q', diskOf(lv, d.name), '64M']);
  await rm(raw, { force: true });
  await writeFile(serialLogOf(lv, d.name), '');
  for (const f of [diskOf(lv, d.name), serialLogOf(lv, d.name)]) await chown(f, user.uid, user.gid);
  const xml = path.join(lv.dir, `${d.name}.lab.xml`);
  await writeFile(xml, labDomainXml(lv, d), { mode: 0o644 });
  await labVirsh(labDir, ['define', xml]);
}

/** Powers off this lab's guests (they outlive libvirtd otherwise) and stops its libvirtd and virtlogd. */
export async function stopLibvirt(labDir: string): Promise<void> {
  const lv = libvirtLayout(labDir);
  if (!(await exists(lv.dir))) return;
  const pid = await daemonPid(lv);
  if (pid !== undefined) {
    const running = (await labVirsh(labDir, ['list', '--name'], { reject: false })).stdout
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const name of running) await labVirsh(labDir, ['destroy', name], { reject: false });
    process.kill(pid, 'SIGTERM');
    await waitFor('the lab libvirtd to exit', async () => !(await isAlive(pid)), { timeoutMs: 15_000, intervalMs: 100 });
  }
  // virtlogd was spawned by that libvirtd for the serial logs; its pidfile is in the same runtime dir.
  const logd = await readPidfile(path.join(lv.runtime, 'libvirt', 'virtlogd.pid'));
  if (logd !== undefined && (await isAlive(logd))) {
    if ((await commandLine(logd))?.includes('virtlogd')) process.kill(logd, 'SIGTERM');
  }
}
