// The lab: six "hosts" (sshd in their own namespaces) plus a PostgreSQL, all on loopback and all state
// under one directory. `up` is idempotent and fast when things already run; `down` stops only what
// this directory's `up` started.
import { access, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  LAB_HOSTS,
  assertTraversableByOthers,
  hostLayout,
  labLayout,
  mkdirMode,
  validateLabOptions,
  writeFileIfChanged,
  type LabLayout,
  type LabOptions,
} from './layout.js';
import { ensureKeyPair } from './keys.js';
import { ensureLoginUser } from './login-user.js';
import { ensureHost, hostUp, stopHost } from './sshd-host.js';
import { ensurePostgres, postgresUp, stopPostgres } from './postgres.js';
import { knownHostsLine } from './ssh-client.js';
import { writeInventory } from './inventory-file.js';
import { assertPrerequisites } from './prerequisites.js';
import { withLabLock } from './lab-lock.js';
import { stopSnoNode } from './sno.js';
import { stopLibvirt } from './libvirt.js';

export { LAB_HOSTS, type LabOptions } from './layout.js';

export function defaultLabOptions(overrides?: Partial<LabOptions>): LabOptions {
  const opts: LabOptions = { dir: '.data/lab', addrBase: '127.0.10', port: 22, pgPort: 5432 };
  for (const [k, v] of Object.entries(overrides ?? {})) {
    if (v !== undefined) (opts as unknown as Record<string, unknown>)[k] = v;
  }
  return { ...opts, dir: path.resolve(opts.dir) };
}

export async function labUp(opts: LabOptions): Promise<{ inventoryPath: string }> {
  validateLabOptions(opts);
  await assertPrerequisites();
  const lab = labLayout(opts);

  // Other users (rbops for authorized_keys, postgres for pg/) must get through these directories.
  await mkdirMode(lab.dir, 0o755);
  await assertTraversableByOthers(lab.dir);
  await mkdirMode(lab.runDir, 0o755);
  return withLabLock(lab.runDir, () => up(opts, lab));
}

async function up(opts: LabOptions, lab: LabLayout): Promise<{ inventoryPath: string }> {
  await Promise.all([mkdirMode(lab.sshDir, 0o755), mkdirMode(lab.hostsDir, 0o755)]);
  for (const h of lab.hosts) await mkdirMode(h.dir, 0o755);

  const [user, client, ...hostKeys] = await Promise.all([
    ensureLoginUser(),
    ensureKeyPair(lab.clientKey, 'runbooks-lab-client'),
    ...lab.hosts.map((h) => ensureKeyPair(h.hostKey, `runbooks-lab-${h.name}`)),
  ]);
  // Readable by rbops: sshd opens it with the user's privileges (StrictModes no, so root-owned is fine).
  await writeFileIfChanged(lab.authorizedKeys, `${client.publicKey} runbooks-lab-client\n`, 0o644);
  const keyOf = (i: number) => {
    const k = hostKeys[i];
    if (!k) throw new Error(`no host key for ${lab.hosts[i]?.name}`);
    return k;
  };
  await writeFileIfChanged(lab.knownHosts, lab.hosts.map((h, i) => `${knownHostsLine(h.address, opts.port, keyOf(i).publicKey)}\n`).join(''), 0o644);

  await Promise.all([ensurePostgres(lab, opts.pgPort), ...lab.hosts.map((h, i) => ensureHost(lab, h, opts.port, user, keyOf(i).created))]);

  await writeInventory(
    lab,
    lab.hosts.map((h, i) => ({
      name: h.name,
      address: h.address,
      port: opts.port,
      hostKey: keyOf(i).publicKey,
      identityFile: lab.clientKey,
    })),
    opts.pgPort,
  );
  // Lets `status`/`down` and people find out which options this dir was brought up with.
  await writeFile(path.join(lab.runDir, 'options.json'), `${JSON.stringify({ ...opts, dir: lab.dir })}\n`);
  return { inventoryPath: lab.inventory };
}

export async function labDown(opts: LabOptions): Promise<void> {
  const lab = labLayout(opts);
  const exists = await access(lab.dir).then(
    () => true,
    () => false,
  );
  if (!exists) return;
  await mkdirMode(lab.runDir, 0o755);
  await withLabLock(lab.runDir, () => down(lab));
}

async function down(lab: LabLayout): Promise<void> {
  // Driven by the pidfiles, not by LAB_HOSTS, so a host started under an older host list is stopped too.
  let pidfiles: string[] = [];
  try {
    pidfiles = (await readdir(lab.runDir)).filter((f) => f.endsWith('.pid'));
  } catch {
    pidfiles = [];
  }
  await Promise.all([...pidfiles.map((f) => stopHost(hostLayout(lab.dir, f.slice(0, -'.pid'.length), ''))), stopPostgres(lab)]);
  await stopSnoNode(lab.dir);
  await stopLibvirt(lab.dir);
}

export async function labStatus(opts: LabOptions): Promise<{ up: boolean; hosts: Record<string, boolean>; postgres: boolean }> {
  const lab = labLayout(opts);
  const [postgres, ...hostStates] = await Promise.all([postgresUp(lab, opts.pgPort), ...lab.hosts.map((h) => hostUp(lab, h, opts.port))]);
  const hosts: Record<string, boolean> = {};
  lab.hosts.forEach((h, i) => {
    hosts[h.name] = hostStates[i] === true;
  });
  return { up: postgres && LAB_HOSTS.every((n) => hosts[n]), hosts, postgres };
}
