// rearBackup's step library: the packages ReaR needs, the configuration a node's local.conf is rendered
// from, and the parsers of what `rear dump` and the store's measurement print. The backup record is the
// contract with rearControllerRecovery (which reads it from the store). Pure: test/unit/rear.test.ts.
import type { PinnedHostKey } from '../../activities/ssh/known-hosts.js';
import type { CommandResult } from '../engine/commands.js';
import type { RearConfig } from './config.js';

/** rear itself, cpio (rear needs it, Debian's package does not say so), xorriso (ISO), lftp (sftp), sshfs. */
export const REAR_PACKAGES = ['rear', 'cpio', 'xorriso', 'isolinux', 'lftp', 'sshfs'];

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
  recordedAt: string;
  /** The same time: what a signed record's reader orders by. */
  createdAt: string;
  /** Where the record was written ("<node>/runbook-record.json"), inside its signature: a copy elsewhere is refused. */
  location: string;
  workflowId: string;
  runId: string;
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

export function rearConfig(s: BackupSettings, node: string, storePort: number, workflowId: string): RearConfig {
  return {
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
  /** When the store measured them (the command's start, as recorded in history): the record's recordedAt. */
  at: string;
}

/** scripts/measure.sh: "<file> <bytes> <sha256>" or "missing <file>" per line. */
export function parseMeasure(text: string): Record<string, StoredFile | undefined> {
  const out: Record<string, StoredFile | undefined> = {};
  for (const line of text.trim().split('\n')) {
    const [a = '', b = '', c = ''] = line.split(' ');
    if (a !== 'missing') out[a] = { file: a, bytes: Number(b), sha256: c };
  }
  return out;
}

export function measuredRefusal(store: string, dir: string, node: string, m: Measured): string | undefined {
  const missing = [isoOf(node), BACKUP_ARCHIVE].filter((n) => !m.files[n]);
  return missing.length ? `${missing.join(' and ')} missing or empty in ${store}:${dir}` : undefined;
}

/** The record as written to the store and returned in the output: the same object, built from the measurement. */
export function backupRecord(node: string, m: Measured, rearVersion: string, run: { workflowId: string; runId: string }): BackupRecord {
  return {
    host: node,
    iso: m.files[isoOf(node)]!,
    backup: m.files[BACKUP_ARCHIVE]!,
    rearVersion,
    recordedAt: m.at,
    createdAt: m.at,
    location: `${node}/runbook-record.json`,
    workflowId: run.workflowId,
    runId: run.runId,
  };
}
