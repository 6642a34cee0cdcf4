// rearBackup's step library: the packages ReaR needs, the configuration a node's local.conf is rendered
// from, and the parsers of what `rear dump` and the store's measurement print. The backup record is the
// contract with rearControllerRecovery (which reads it from the store). Pure: test/unit/rear.test.ts.
import type { PinnedHostKey } from '../../activities/ssh/known-hosts.js';
import type { CommandResult } from '../engine/commands.js';
import type { RearConfig } from './config.js';
import type { MachineIdentity } from './identity.js';

/**
 * rear itself, cpio and file (rear requires both, Debian's package declares neither: a minimal Debian 12 VM
 * stops at "Cannot find required programs: file"), xorriso (ISO), lftp (sftp), sshfs.
 */
export const REAR_PACKAGES = ['rear', 'cpio', 'file', 'xorriso', 'isolinux', 'lftp', 'sshfs'];
/** The seed's RHEL/CentOS set (`yum install rear genisoimage syslinux lftp`, fuse-sshfs for the sshfs URL). */
export const REAR_PACKAGES_RHEL = ['rear', 'genisoimage', 'syslinux', 'lftp', 'fuse-sshfs'];

/** scripts/check-tools.sh: the node's family, installer, SELinux mode and missing packages. */
export interface NodeTools {
  family: 'debian' | 'rhel' | 'unknown';
  installer: 'apt-get' | 'dnf' | 'yum';
  selinux: string;
  firmware: 'bios' | 'efi';
  missing: string[];
}

export function parseTools(text: string): NodeTools {
  const t: NodeTools = { family: 'unknown', installer: 'apt-get', selinux: 'disabled', firmware: 'bios', missing: [] };
  for (const line of text.split('\n').filter(Boolean)) {
    const [k = '', v = ''] = line.split(' ');
    if (k === 'family' && (v === 'debian' || v === 'rhel' || v === 'unknown')) t.family = v;
    else if (k === 'installer' && (v === 'apt-get' || v === 'dnf' || v === 'yum')) t.installer = v;
    else if (k === 'selinux') t.selinux = v;
    else if (k === 'firmware') t.firmware = v === 'efi' ? 'efi' : 'bios';
    else if (!line.includes(' ')) t.missing.push(line);
  }
  return t;
}

export function toolsRefusal(node: string, t: NodeTools, unattended: boolean): string | undefined {
  if (t.family === 'unknown') return `${node} is neither Debian- nor RHEL-family (/etc/os-release): no known way to install rear`;
  if (unattended && t.firmware === 'efi')
    return `unattended: ${node} boots with UEFI, and ReaR's unattended ISO mode (ISO_RECOVER_MODE) drives only the BIOS ISOLINUX menu: use unattended false`;
  return undefined;
}

/**
 * The commands that install what is missing, per family: apt-get on Debian; dnf (or yum) on RHEL, and there,
 * with SELinux on, the seed's `setsebool -P virt_use_fusefs 1` (fuse mounts for the sshfs BACKUP_URL).
 */
export function installCommands(t: NodeTools): { argv: string[]; env?: Record<string, string> }[] {
  if (!t.missing.length) return [];
  if (t.family === 'rhel') {
    const out: { argv: string[]; env?: Record<string, string> }[] = [{ argv: [t.installer, 'install', '-y', ...t.missing] }];
    if (t.selinux === 'enforcing' || t.selinux === 'permissive') out.push({ argv: ['setsebool', '-P', 'virt_use_fusefs', '1'] });
    return out;
  }
  return [{ argv: ['apt-get', 'install', '-y', '--no-install-recommends', ...t.missing], env: { DEBIAN_FRONTEND: 'noninteractive' } }];
}

/** scripts/store-address.sh: the store's address as the node resolves it, and whether /etc/hosts has it. */
export function parseStoreAddress(text: string): { address?: string; inHosts: boolean } {
  const a = /^address (\S+)$/m.exec(text)?.[1];
  return { address: a && a !== 'none' && /^[0-9A-Fa-f:.]{2,45}$/.test(a) ? a : undefined, inHosts: /^in-hosts yes$/m.test(text) };
}

/** scripts/checklayout.sh: `rear checklayout`'s verdict (0 identical, 1 changed, else no earlier layout or an error). */
export function parseChecklayout(text: string): 'identical' | 'changed' | 'unknown' {
  const code = /^exit (\d+)$/m.exec(text)?.[1];
  return code === '0' ? 'identical' : code === '1' ? 'changed' : 'unknown';
}

/** scripts/previous-backup.sh: what the node's directory on the store holds before mkbackup. */
export function parsePrevious(text: string): { files: string[]; recordedAt?: string; isoSha?: string; backupSha?: string } {
  const [files = '', record = ''] = text.split('@record');
  const names = files.replace('@files', '').split('\n').filter(Boolean);
  let r: Partial<BackupRecord> | undefined;
  try {
    r = record.trim() ? (JSON.parse(record) as Partial<BackupRecord>) : undefined;
  } catch {
    r = undefined;
  }
  return { files: names, recordedAt: r?.recordedAt, isoSha: r?.iso?.sha256, backupSha: r?.backup?.sha256 };
}

/** Where a node's previous backups are kept: beside its directory, one dated directory each. */
export const keptDir = (s: { path: string }, node: string): string => `${s.path}/${node}.kept`;

export interface StoredFile {
  file: string;
  sha256: string;
  bytes: number;
}

/** The backup record: <path>/<node>/runbook-record.json on the store (format shared with rearControllerRecovery). */
export interface BackupRecord {
  host: string;
  iso: StoredFile;
  backup: StoredFile;
  rearVersion: string;
  /** The ISO boots straight into `rear recover` (ISO_RECOVER_MODE=unattended): recovery's gate says so. */
  unattended: boolean;
  recordedAt: string;
  /** The same time: what a signed record's reader orders by. */
  createdAt: string;
  /** Where the record was written ("<node>/runbook-record.json"), inside its signature: a copy elsewhere is refused. */
  location: string;
  workflowId: string;
  runId: string;
  /** Read right before the backup: what the recovered machine must match (absent in records before it). */
  identity?: MachineIdentity;
}

/** What a node's local.conf depends on besides the node: the run's input (the store's port comes from its pinned key). */
export interface BackupSettings {
  store: string;
  user: string;
  path: string;
  exclude: string[];
  includeOnly?: string[];
  unattended: boolean;
  rescueKernel?: string;
  bootloader?: RearConfig['bootloader'];
}

export const isoOf = (node: string): string => `rear-${node}.iso`;
export const BACKUP_ARCHIVE = 'backup.tar.gz';
export const nodeDir = (s: { path: string }, node: string): string => `${s.path}/${node}`;

/** The known_hosts line for the store: "[host]:port key" off port 22, as ssh writes it. */
export const knownHostsLine = (k: PinnedHostKey): string => `${k.port === 22 ? k.host : `[${k.host}]:${k.port}`} ${k.key}`;

export function rearConfig(s: BackupSettings, node: string, storePort: number, workflowId: string, storeAddress?: string): RearConfig {
  return {
    storeAddress,
    node,
    store: s.store,
    storePort,
    user: s.user,
    path: s.path,
    exclude: s.exclude,
    includeOnly: s.includeOnly,
    unattended: s.unattended,
    rescueKernel: s.rescueKernel,
    bootloader: s.bootloader,
    workflowId,
  };
}

/** scripts/root-key.sh: the public key, then whether root has keys the rescue system gets (ReaR copies them). */
export function parseRootKey(text: string): { key: string; rescueSsh: boolean } {
  const [key = '', rescue = ''] = text.trim().split('\n');
  return { key, rescueSsh: rescue === 'rescue-ssh' };
}

export const rootKeyRefusal = (node: string, k: { key: string }): string | undefined =>
  /^ssh-ed25519 [A-Za-z0-9+/]+=*$/.test(k.key) ? undefined : `no public key read from ${node}`;

export interface RearDump {
  urls: string[];
  version: string;
}

/** `rear dump` then `rear -V`: the URLs ReaR really uses, and its version. */
export function parseDump(r: CommandResult[]): RearDump {
  return {
    urls: (r[0]?.stdoutTail ?? '')
      .split('\n')
      .filter((l) => /^\s*(BACKUP_URL|OUTPUT_URL)=/.test(l))
      .map((l) => l.trim()),
    version: /Relax-and-Recover (\S+)/.exec(r[1]?.stdoutTail ?? '')?.[1] ?? 'unknown',
  };
}

/** The configuration ReaR really reads names our store: no other local.conf or site.conf overrides it. */
export function dumpRefusal(s: { store: string; path: string }, d: RearDump): string | undefined {
  const urls = d.urls.join(' ');
  return urls.includes(`@${s.store}${s.path}/`) ? undefined : `rear dump does not show the store's URLs: ${urls || '(none)'}`;
}

export interface Measured {
  files: Record<string, StoredFile | undefined>;
  /** measure.sh's checks: "ok", or what failed ("tar-fails": truncated archive, "no-el-torito": unbootable ISO). */
  checks?: Record<string, string>;
  /** When the store measured them (the command's start, as recorded in history): the record's recordedAt. */
  at: string;
}

/** scripts/measure.sh: "<file> <bytes> <sha256>" or "missing <file>" per line. */
export function parseMeasure(text: string): Record<string, StoredFile | undefined> {
  const out: Record<string, StoredFile | undefined> = {};
  for (const line of text.trim().split('\n')) {
    const [a = '', b = '', c = ''] = line.split(' ');
    if (a !== 'missing' && a !== 'check' && a) out[a] = { file: a, bytes: Number(b), sha256: c };
  }
  return out;
}

/** measure.sh's "check <file> <verdict>" lines. */
export function parseChecks(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^check (\S+) (\S+)$/gm)) out[m[1]!] = m[2]!;
  return out;
}

export function measuredRefusal(store: string, dir: string, node: string, m: Measured): string | undefined {
  const missing = [isoOf(node), BACKUP_ARCHIVE].filter((n) => !m.files[n]);
  if (missing.length) return `${missing.join(' and ')} missing or empty in ${store}:${dir}`;
  if (!m.checks) return undefined;
  if (m.checks[BACKUP_ARCHIVE] !== 'ok') return `${store}:${dir}/${BACKUP_ARCHIVE} does not list to its end (tar -tzf): truncated or corrupt`;
  if (m.checks[isoOf(node)] !== 'ok') return `${store}:${dir}/${isoOf(node)} has no El Torito boot record: it cannot boot`;
  return undefined;
}

/** The record as written to the store and returned in the output: the same object, built from the measurement. */
export function backupRecord(
  node: string,
  m: Measured,
  rearVersion: string,
  run: { workflowId: string; runId: string },
  unattended = false,
  identity?: MachineIdentity,
): BackupRecord {
  return {
    host: node,
    iso: m.files[isoOf(node)]!,
    backup: m.files[BACKUP_ARCHIVE]!,
    rearVersion,
    unattended,
    recordedAt: m.at,
    createdAt: m.at,
    location: `${node}/runbook-record.json`,
    workflowId: run.workflowId,
    runId: run.runId,
    ...(identity ? { identity } : {}),
  };
}
