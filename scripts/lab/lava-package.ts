// The Debian packages of a LAVA master. Installed on the machine itself (lab hosts share its
// filesystem), once; later calls only ask dpkg-query, which takes milliseconds.
import { execa } from 'execa';
import { CLEAN_ENV } from './lava-manage.js';

/**
 * lava-server is the master; lava-dispatcher brings /usr/bin/lava-worker (without its recommends:
 * no apache2, lxc, tftpd or kernel images, which the lab never uses).
 */
export const LAVA_PACKAGES = ['lava-server', 'lava-dispatcher'] as const;

const INSTALL_TIMEOUT_MS = 15 * 60 * 1000;

async function missingPackages(): Promise<string[]> {
  const r = await execa('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Status}\n', ...LAVA_PACKAGES], {
    reject: false,
    stdin: 'ignore',
  });
  const installed = new Set(
    r.stdout
      .split('\n')
      .map((l) => l.trim().split(' '))
      .filter(([, status]) => status === 'installed')
      .map(([name]) => name),
  );
  return LAVA_PACKAGES.filter((p) => !installed.has(p));
}

/**
 * apt-get install when something is missing. The postinst looks for PostgreSQL with a bare
 * `pg_isready` (default port 5432 on /var/run/postgresql): with no cluster there it prints "Skipping
 * database creation" and writes no 00-database.yaml, which lava-database.ts then provides. PG* variables
 * are dropped on purpose: with PGPORT set the postinst would create the role on that port but still
 * write PORT: 5432, and its migrate would fail the whole dpkg run. policy-rc.d keeps every daemon off.
 */
export async function ensureLavaPackages(): Promise<'kept' | 'installed'> {
  const missing = await missingPackages();
  if (missing.length === 0) return 'kept';
  const r = await execa('apt-get', ['install', '-y', '--no-install-recommends', ...LAVA_PACKAGES], {
    reject: false,
    stdin: 'ignore',
    env: { ...CLEAN_ENV, DEBIAN_FRONTEND: 'noninteractive' },
    extendEnv: false,
    timeout: INSTALL_TIMEOUT_MS,
    all: true,
  });
  if (r.exitCode !== 0) {
    throw new Error(
      `apt-get install ${LAVA_PACKAGES.join(' ')} failed (rc=${r.exitCode}); run apt-get update first if the lists are old:\n${(r.all ?? '').slice(-3000)}`,
    );
  }
  const still = await missingPackages();
  if (still.length > 0) throw new Error(`apt-get succeeded but ${still.join(' ')} is still not installed`);
  return 'installed';
}

/** The installed lava-server version, e.g. 2023.01-2; backups must record it (procedures.md A3). */
export async function lavaVersion(): Promise<string> {
  const r = await execa('dpkg-query', ['-W', '-f', '${Version}', 'lava-server'], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0 || r.stdout.trim() === '') throw new Error('lava-server is not installed');
  return r.stdout.trim();
}
