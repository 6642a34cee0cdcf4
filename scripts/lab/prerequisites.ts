// Fails early with the packages to install instead of midway with "spawn ENOENT". The names match
// scripts/debian-packages.txt, which setup.sh installs.
import { access, constants } from 'node:fs/promises';
import { PG_BIN } from './postgres.js';

const REQUIRED: ReadonlyArray<readonly [binary: string, pkg: string]> = [
  ['/usr/sbin/sshd', 'openssh-server'],
  ['/usr/bin/ssh', 'openssh-client'],
  ['/usr/bin/ssh-keygen', 'openssh-client'],
  ['/usr/sbin/visudo', 'sudo'],
  ['/usr/bin/sudo', 'sudo'],
  ['/usr/sbin/useradd', 'passwd'],
  ['/usr/sbin/usermod', 'passwd'],
  ['/usr/bin/unshare', 'util-linux'],
  ['/usr/sbin/runuser', 'util-linux'],
  ['/usr/bin/mount', 'mount'],
  ['/usr/bin/hostname', 'hostname'],
  [`${PG_BIN}/initdb`, 'postgresql-15'],
  [`${PG_BIN}/pg_ctl`, 'postgresql-15'],
  [`${PG_BIN}/pg_isready`, 'postgresql-client-15'],
];

export async function assertPrerequisites(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (namespaces, bind mounts, useradd)');
  const missing = new Set<string>();
  await Promise.all(
    REQUIRED.map(([bin, pkg]) =>
      access(bin, constants.X_OK).catch(() => {
        missing.add(pkg);
      }),
    ),
  );
  if (missing.size > 0) {
    throw new Error(`missing packages for the lab: apt-get install -y --no-install-recommends ${[...missing].join(' ')}`);
  }
}
