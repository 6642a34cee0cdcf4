// controller-0: the lab node rearBackup runs real ReaR 2.7 on (as root through rbops' sudo). Like every lab
// host it shares the machine's root filesystem, so what ReaR treats as the node's own is given to it in the
// host's mount namespace instead of being written machine-wide: root's home (its SSH key and known_hosts),
// /etc/rear (the rendered local.conf), and tmpfs over ReaR's working and output directories (/var/tmp,
// /var/lib/rear, /var/log/rear: fast ISO builds, and the "/ filesystem" refusal of ReaR never applies).
//
// One fact is told to kmod: this machine's kernel has fuse built in and no module tree, so ReaR's
// `lsmod | grep fuse || modprobe fuse` (before its sshfs mount) would fail although sshfs works. The host
// gets a /lib/modules/<running kernel> whose modules.builtin lists fuse (depmod-generated), next to the
// machine's real module trees (the rescue image takes its modules from those).
import { cp, mkdir, readdir, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { release } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { HostLayout } from './layout.js';

export const REAR_CONTROLLER = 'controller-0';

const MODULES = '/lib/modules';

function dirs(host: HostLayout) {
  return {
    root: path.join(host.dir, 'root'),
    etcRear: path.join(host.dir, 'etc-rear'),
    modroot: path.join(host.dir, 'modroot'),
    modules: path.join(host.dir, 'modroot', 'lib', 'modules'),
  };
}

/** Creates the controller's own directories (kept across ups, like a real node's disk). */
export async function prepareController(host: HostLayout): Promise<void> {
  const d = dirs(host);
  await mkdir(d.root, { recursive: true, mode: 0o700 });
  if (!existsSync(d.etcRear)) await cp('/etc/rear', d.etcRear, { recursive: true });
  const kernel = release();
  const own = path.join(d.modules, kernel);
  await mkdir(own, { recursive: true });
  await writeFile(path.join(own, 'modules.builtin'), 'kernel/fs/fuse/fuse.ko\n');
  await writeFile(path.join(own, 'modules.order'), '');
  // depmod -b <base> reads <base>/lib/modules/<kernel>.
  const r = await execa('depmod', ['-b', d.modroot, kernel], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`depmod for ${REAR_CONTROLLER}'s module tree failed: ${r.stderr}`);
  // Mount points for the machine's real module trees, bound in at start.
  for (const k of await machineKernels()) if (k !== kernel) await mkdir(path.join(d.modules, k), { recursive: true });
}

async function machineKernels(): Promise<string[]> {
  return existsSync(MODULES) ? readdir(MODULES) : [];
}

/** Shell lines run in the controller's new mount namespace before its sshd starts. */
export async function controllerMounts(host: HostLayout): Promise<string[]> {
  const d = dirs(host);
  const kernel = release();
  const binds = (await machineKernels()).filter((k) => k !== kernel).map((k) => `mount --bind ${MODULES}/${k} ${d.modules}/${k}`);
  return [
    `mount --bind ${d.root} /root`,
    `mount --bind ${d.etcRear} /etc/rear`,
    'mount -t tmpfs -o size=3g,mode=1777 rear-tmp /var/tmp',
    'mount -t tmpfs -o size=2g,mode=0755 rear-lib /var/lib/rear',
    'mount -t tmpfs -o size=64m,mode=0755 rear-log /var/log/rear',
    ...binds,
    `mount --rbind ${d.modules} ${MODULES}`,
  ];
}

/**
 * The kernel the rescue image is built with: the newest Debian kernel in /boot (linux-image-amd64). ReaR
 * cannot find one by itself here (the running kernel is the container host's, not in /boot), so rearBackup in
 * the lab needs `"rescueKernel": <this>`; `npm start` prints the input with it.
 */
export function labRescueKernel(): string | undefined {
  const versions = (existsSync('/boot') ? readdirSync('/boot') : [])
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return versions[versions.length - 1];
}
