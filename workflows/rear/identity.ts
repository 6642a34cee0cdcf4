// What a recovered controller must match: the identity rearBackup reads from the node right before
// `rear -v mkbackup` (scripts/identity.sh) and signs into the backup record, compared by
// rearControllerRecovery once the machine answers SSH from its recovered disk. The SSH link pins the host
// key the inventory holds (recorded as `sshKey`: the key sshd proved it has); the comparison adds what the
// link cannot see: the machine-id, a new boot, the host key files in /etc/ssh, and the files the operator
// named. Pure: test/unit/rear.test.ts.
import { z } from 'zod';

export interface MachineIdentity {
  hostname: string;
  machineId: string;
  /** The boot the backup was taken in: the recovered machine must be on another one. */
  bootId: string;
  /** "<type> <base64>" of each /etc/ssh/ssh_host_*_key.pub, sorted (none where sshd keeps its keys elsewhere). */
  hostKeys: string[];
  /** The key the inventory pins for the node, which its sshd proved it holds when the identity was read. */
  sshKey?: string;
  /** sha256 per file named in rearBackup's `verifyFiles`; null where the file did not exist. */
  files: Record<string, string | null>;
}

/** A file whose sha256 is recorded with the backup and compared on the recovered machine. */
export const verifyPath = () =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'an absolute path (letters, digits, "._-/")')
    .refine((p) => !p.split('/').includes('..') && !p.endsWith('/'), 'a file: no "..", no trailing "/"');

/** Files ReaR restores and never rewrites (fstab and the boot loader's files may change in a migration). */
export const DEFAULT_VERIFY_FILES = ['/etc/hostname', '/etc/machine-id', '/etc/passwd', '/etc/group'];

export function parseIdentity(text: string): MachineIdentity {
  const id: MachineIdentity = { hostname: '', machineId: '', bootId: '', hostKeys: [], files: {} };
  for (const line of text.split('\n')) {
    const [k = '', a = '', b = ''] = line.trim().split(' ');
    if (k === 'hostname') id.hostname = a;
    else if (k === 'machine-id') id.machineId = a;
    else if (k === 'boot-id') id.bootId = a;
    else if (k === 'host-key' && a && b) id.hostKeys.push(`${a} ${b}`);
    else if (k === 'file' && /^[0-9a-f]{64}$/.test(a) && b) id.files[b] = a;
    else if (k === 'missing' && a) id.files[a] = null;
  }
  id.hostKeys.sort();
  return id;
}

/** The backup cannot be recognised later without these. */
export function identityReadRefusal(node: string, id: MachineIdentity): string | undefined {
  if (!id.hostname) return `no host name read from ${node}`;
  if (!/^[0-9a-f]{32}$/.test(id.machineId))
    return `${node} has no valid /etc/machine-id ("${id.machineId}"): the recovered machine could not be told from another`;
  if (!id.sshKey) return `no pinned host key for ${node}`;
  return undefined;
}

/** What the comparison found, for the run's output. */
export interface IdentityMatch {
  hostname: string;
  machineId: string;
  hostKeys: number;
  files: number;
  /** What the record could not say (an older record has no identity: only the host name is compared). */
  notRecorded?: string;
}

/** Every key the record knows the machine by: its host key files and the key the link pinned. */
const recordedKeys = (r: MachineIdentity): string[] => [...new Set([...r.hostKeys, ...(r.sshKey ? [r.sshKey] : [])])];

const short = (key: string): string => `${key.split(' ')[0]} …${key.split(' ')[1]?.slice(-12) ?? ''}`;

/**
 * Why the machine that answers is not the one backed up; undefined when it is. `got.sshKey` is the key the
 * link to it pinned (its sshd proved it holds it).
 */
export function identityRefusal(host: string, recorded: MachineIdentity | undefined, got: MachineIdentity): string | undefined {
  const wantName = recorded?.hostname ?? host;
  if (got.hostname !== wantName) return `the recovered machine calls itself "${got.hostname}", the backup was of "${wantName}"`;
  if (!recorded) return undefined;
  if (recorded.sshKey && got.sshKey !== recorded.sshKey)
    return `sshd on the recovered machine answered with ${got.sshKey ? short(got.sshKey) : 'no key'} (pinned in the inventory); the backup recorded ${short(recorded.sshKey)}`;
  if (got.machineId !== recorded.machineId)
    return `the recovered machine has machine-id ${got.machineId || '(none)'}, the backup recorded ${recorded.machineId}`;
  if (got.bootId && got.bootId === recorded.bootId)
    return `the machine answering is still on the boot the backup was taken in (${got.bootId}): it was never recovered`;
  const missingKeys = recorded.hostKeys.filter((k) => !got.hostKeys.includes(k));
  if (missingKeys.length)
    return `sshd on the recovered machine lacks the recorded host key ${short(missingKeys[0]!)}${missingKeys.length > 1 ? ` (and ${missingKeys.length - 1} more)` : ''}`;
  const extraKeys = got.hostKeys.filter((k) => !recorded.hostKeys.includes(k));
  if (extraKeys.length) return `sshd on the recovered machine has a host key the backup did not: ${short(extraKeys[0]!)}`;
  for (const [path, sha] of Object.entries(recorded.files)) {
    const now = got.files[path];
    if (now === undefined) return `${path} was not measured on the recovered machine`;
    if (now !== sha)
      return `${path} on the recovered machine ${now === null ? 'is missing' : `has sha256 ${now.slice(0, 12)}…`}; the backup recorded ${sha === null ? 'no such file' : `${sha.slice(0, 12)}…`}`;
  }
  return undefined;
}

export function identityMatch(host: string, recorded: MachineIdentity | undefined, got: MachineIdentity): IdentityMatch {
  return {
    hostname: got.hostname,
    machineId: got.machineId,
    hostKeys: recorded ? recordedKeys(recorded).length : 0,
    files: recorded ? Object.keys(recorded.files).length : 0,
    ...(recorded ? {} : { notRecorded: `the record of ${host}'s backup predates identities: only the host name was compared` }),
  };
}

/** The drill's copy, seen only through its SSH forward: every key its sshd offers is one the backup recorded. */
export function scannedKeysRefusal(copy: string, recorded: MachineIdentity | undefined, scanned: string[]): string | undefined {
  if (!scanned.length) return `${copy}'s sshd offered no host key`;
  if (!recorded) return undefined;
  const known = recordedKeys(recorded);
  const foreign = scanned.filter((k) => !known.includes(k));
  if (foreign.length) return `${copy}'s sshd offers a host key the backup did not record: ${short(foreign[0]!)}`;
  if (recorded.sshKey && !scanned.includes(recorded.sshKey)) return `${copy}'s sshd does not offer the recorded host key ${short(recorded.sshKey)}`;
  return undefined;
}
