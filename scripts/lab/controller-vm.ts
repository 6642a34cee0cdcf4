// The lab's real controller VM (issue 19): a Debian 12 disk built offline from Debian packages by
// scripts/lab/controller-vm/build-disk.sh (debootstrap, mke2fs -d, GRUB installed at its first boot), once
// per checkout in .data/controller-vm/, with its own pinned SSH host key and a client key for rbops (both
// made here, never committed). Each use gets a copy-on-write overlay, so a wiped or recovered disk never
// touches the built image.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The host program, next to this file in the source tree (build/ holds only the compiled .js). */
const BUILD_SCRIPT = path.resolve(here, '..', '..', '..', 'scripts', 'lab', 'controller-vm', 'build-disk.sh');

export interface ControllerVmImage {
  image: string;
  /** "ssh-ed25519 <base64>": what the inventory pins for the VM. */
  hostKey: string;
  identityFile: string;
}

export async function controllerVmImage(root: string): Promise<ControllerVmImage> {
  const dir = path.join(root, '.data', 'controller-vm');
  await mkdir(dir, { recursive: true });
  const hostKeyFile = path.join(dir, 'host_ed25519');
  const identityFile = path.join(dir, 'client_ed25519');
  for (const [f, c] of [
    [hostKeyFile, 'controller-0-host'],
    [identityFile, 'lab-client'],
  ] as const)
    if (!existsSync(f)) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', c, '-f', f]);
  // Named by the recipe's hash: a changed build-disk.sh builds a new image instead of reusing a stale one.
  const recipe = createHash('sha256')
    .update(await readFile(BUILD_SCRIPT))
    .digest('hex')
    .slice(0, 12);
  const image = path.join(dir, `controller-0.${recipe}.qcow2`);
  if (!existsSync(image)) await execa('bash', [BUILD_SCRIPT, dir, image, hostKeyFile, `${identityFile}.pub`], { stdio: 'inherit', timeout: 60 * 60_000 });
  const hostKey = (await readFile(`${hostKeyFile}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  return { image, hostKey, identityFile };
}

/** A fresh overlay on the built image at `disk`, owned by the daemon's user (QEMU runs as it). */
export async function controllerVmDisk(img: ControllerVmImage, disk: string, owner: { uid: number; gid: number }): Promise<void> {
  await rm(disk, { force: true });
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', img.image, disk]);
  await chown(disk, owner.uid, owner.gid);
}

/** The damage: the disk replaced by an empty one of the same size (no partition table, no filesystem). */
export async function wipeControllerVmDisk(disk: string, owner: { uid: number; gid: number }): Promise<void> {
  await rm(disk, { force: true });
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '4G']);
  await chown(disk, owner.uid, owner.gid);
}
