// Where everything of one lab lives. All state is under one directory so that several labs (a dev lab
// and a test lab, say) can run side by side and `down` can tell its own processes from the others'.
import { mkdir, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';

export interface LabOptions {
  dir: string;
  addrBase: string;
  port: number;
  pgPort: number;
}

// controller-0 (last, so the others keep their addresses) is the node rearBackup runs real ReaR on: scripts/lab/rear-controller.ts.
export const LAB_HOSTS = ['lava-master', 'lava-worker', 'backup-store', 'hypervisor', 'sno-node', 'cloud-client', 'controller-0'] as const;
export type LabHostName = (typeof LAB_HOSTS)[number];

/** The login user on every lab host; shell /bin/sh so no rc file slows each command down. */
export const LAB_USER = 'rbops';
/** rbops' home in the root namespace; each host bind-mounts its own directory over it. */
export const LAB_USER_HOME = '/var/lib/runbooks-lab/rbops';

/** First host gets <addrBase>.11, the next .12, ... */
const FIRST_HOST_OCTET = 11;

export interface HostLayout {
  name: string;
  address: string;
  dir: string;
  sshdConfig: string;
  hostKey: string;
  home: string;
  etcHosts: string;
  log: string;
  pidfile: string;
}

export interface LabLayout {
  dir: string;
  runDir: string;
  sshDir: string;
  hostsDir: string;
  clientKey: string;
  authorizedKeys: string;
  knownHosts: string;
  inventory: string;
  pgDir: string;
  pgData: string;
  pgLog: string;
  hosts: HostLayout[];
}

export function hostAddress(addrBase: string, index: number): string {
  return `${addrBase}.${FIRST_HOST_OCTET + index}`;
}

export function hostLayout(dir: string, name: string, address: string): HostLayout {
  const hostDir = path.join(dir, 'hosts', name);
  return {
    name,
    address,
    dir: hostDir,
    sshdConfig: path.join(hostDir, 'sshd_config'),
    hostKey: path.join(hostDir, 'ssh_host_ed25519_key'),
    home: path.join(hostDir, 'home'),
    etcHosts: path.join(hostDir, 'etc-hosts'),
    log: path.join(hostDir, 'sshd.log'),
    pidfile: path.join(dir, 'run', `${name}.pid`),
  };
}

export function labLayout(opts: LabOptions): LabLayout {
  const dir = path.resolve(opts.dir);
  const sshDir = path.join(dir, 'ssh');
  const pgDir = path.join(dir, 'pg');
  return {
    dir,
    runDir: path.join(dir, 'run'),
    sshDir,
    hostsDir: path.join(dir, 'hosts'),
    clientKey: path.join(sshDir, 'id_ed25519'),
    authorizedKeys: path.join(sshDir, 'authorized_keys'),
    knownHosts: path.join(sshDir, 'known_hosts'),
    inventory: path.join(dir, 'inventory.yaml'),
    pgDir,
    pgData: path.join(pgDir, 'data'),
    pgLog: path.join(pgDir, 'pg.log'),
    hosts: LAB_HOSTS.map((name, i) => hostLayout(dir, name, hostAddress(opts.addrBase, i))),
  };
}

export function validateLabOptions(opts: LabOptions): void {
  const octets = opts.addrBase.split('.');
  // Loopback only: every 127/8 address already routes to lo, so nothing has to be configured,
  // and nothing of the lab is reachable from outside the machine.
  if (octets.length !== 3 || octets[0] !== '127' || !octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)) {
    throw new Error(`--addr-base must be three octets of a loopback address such as 127.0.10, got "${opts.addrBase}"`);
  }
  for (const [flag, port] of [
    ['--port', opts.port],
    ['--pg-port', opts.pgPort],
  ] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${flag} must be a TCP port, got ${port}`);
  }
  // The paths go unquoted into sshd_config and into the sh -c line that starts each host.
  if (!/^[A-Za-z0-9_./+@:-]+$/.test(path.resolve(opts.dir))) {
    throw new Error(`lab dir "${path.resolve(opts.dir)}" may only contain letters, digits and _./+@:-`);
  }
}

/** Writes only when the content differs, so callers can tell whether a running process is stale. */
export async function writeFileIfChanged(file: string, content: string, mode: number): Promise<boolean> {
  let old: string | undefined;
  try {
    old = await readFile(file, 'utf8');
  } catch {
    old = undefined;
  }
  if (old === content) {
    await chmod(file, mode);
    return false;
  }
  await writeFile(file, content, { mode });
  await chmod(file, mode);
  return true;
}

export async function mkdirMode(dir: string, mode: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, mode);
}

/**
 * sshd reads authorized_keys as rbops and PostgreSQL runs as postgres, so every directory above the
 * lab must let other users through; a 0700 parent would only show up later as a refused login.
 */
export async function assertTraversableByOthers(dir: string): Promise<void> {
  let cur = path.dirname(dir);
  for (;;) {
    const st = await stat(cur);
    if ((st.mode & 0o001) === 0) {
      throw new Error(
        `${cur} is not searchable by other users (mode ${(st.mode & 0o777).toString(8)}); the lab's sshd reads ` +
          `${dir}/ssh/authorized_keys as ${LAB_USER} and PostgreSQL runs as postgres. Run chmod o+x ${cur} or use another --dir.`,
      );
    }
    const parent = path.dirname(cur);
    if (parent === cur) return;
    cur = parent;
  }
}
