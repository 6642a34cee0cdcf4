// The pre-upgrade backup's steps below the procedure: the commands it runs on the node, and the pure
// functions that read their output and decide (is the recovery directory its own filesystem, is there
// room, is a recovery in progress, is the backup complete). test/unit/sno.test.ts covers the decisions.
import { z } from 'zod';
import { remote, stdoutOf, type CommandResult, type RemoteCommand } from '../engine/commands.js';
import { bootedPinnedInAdminStatus } from './ostree.js';
import estimateScript from './scripts/estimate-backup-size.sh';
import verifyScript from './scripts/verify-backup.sh';
import writeManifestScript from './scripts/write-manifest.sh';

/** The recovery directory: absolute, plain characters, no "..", not "/" (it is emptied and written as root). */
export const recoveryDir = () =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'an absolute path (letters, digits, "._-/")')
    .refine((p) => !p.split('/').includes('..') && p !== '/' && !p.endsWith('/'), 'no "..", not "/", no trailing "/"')
    .default('/var/recovery');

export const MiB = 1024 * 1024;
const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;

export interface Mount {
  target: string;
  source: string;
  fstype: string;
}

export const mountOf = (node: string, dir: string): RemoteCommand => remote(node, ['findmnt', '-n', '-o', 'TARGET,SOURCE,FSTYPE', '--target', dir]);

export function parseMount(r: CommandResult[]): Mount {
  const [target = '', source = '', fstype = ''] = stdoutOf(r).trim().split(/\s+/);
  return { target, source, fstype };
}

/**
 * The seed highly recommends a recovery partition, and also allows the plain folder /var/recovery: a
 * directory on another filesystem is accepted with this warning (it shares that filesystem's space).
 */
export function filesystemWarning(fs: Mount, dir: string): string | undefined {
  return fs.target === dir
    ? undefined
    : `${dir} is not a dedicated filesystem: it is on ${fs.target}'s (${fs.source}, ${fs.fstype}); the seed highly recommends a recovery partition (the backup then competes with ${fs.target} for space)`;
}

/** One entry at the top of the recovery directory (`find -printf '%y %s %f'`). */
export interface Entry {
  kind: string;
  bytes: number;
  name: string;
}

export const listRecoveryDir = (node: string, dir: string): RemoteCommand =>
  remote(node, ['find', dir, '-mindepth', '1', '-maxdepth', '1', '-printf', '%y %s %f\\n'], { sudo: true });

export function parseEntries(r: CommandResult[]): Entry[] {
  return stdoutOf(r)
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [kind = '', bytes = '0', ...name] = l.split(' ');
      return { kind, bytes: Number(bytes), name: name.join(' ') };
    });
}

/** A progress file means a recovery is under way: a new backup would wipe the one it needs. */
export function noRecoveryInProgress(entries: Entry[], dir: string): string | undefined {
  return entries.some((e) => e.name === 'progress')
    ? `a recovery is in progress (${dir}/progress exists): finish it (snoUpgradeRecovery) before taking a new backup, which would wipe the one it needs`
    : undefined;
}

export const describeEntry = (e: Entry): string => `${e.kind === 'd' ? 'dir ' : 'file'} ${e.name} (${e.bytes} bytes)`;

export const clearRecoveryDir = (node: string, dir: string): RemoteCommand =>
  remote(node, ['find', dir, '-mindepth', '1', '-maxdepth', '1', '-exec', 'rm', '-rf', '--', '{}', '+'], { sudo: true });

export interface Estimate {
  parts: Record<string, number>;
  estimate: number;
  margin: number;
  available: number;
}

export const estimateSize = (node: string, dir: string): RemoteCommand => remote(node, ['sh', '-c', estimateScript, 'estimate', dir], { sudo: true });

/** scripts/estimate-backup-size.sh's "<part> <bytes>" lines; "available" is the free space, the rest add up to the estimate. */
export function parseEstimate(r: CommandResult[], marginMiB: number): Estimate {
  const parts = Object.fromEntries(
    stdoutOf(r)
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, n]) => [k!, Number(n)]),
  );
  const available = parts.available ?? 0;
  delete parts.available;
  const estimate = Object.values(parts).reduce((a, b) => a + b, 0);
  return { parts, estimate, margin: marginMiB * MiB, available };
}

/** Checked before anything is deleted (TALM wipes the directory first, then finds there is no room). */
export function enoughSpace(e: Estimate, dir: string): string | undefined {
  if (e.available >= e.estimate + e.margin) return undefined;
  const parts = Object.entries(e.parts)
    .map(([k, n]) => `${k} ${mib(n)}`)
    .join(', ');
  return `not enough space on ${dir}: ${mib(e.available)} available, the backup needs ${mib(e.estimate)} (${parts}) + margin ${mib(e.margin)} = ${mib(e.estimate + e.margin)}; nothing was deleted`;
}

/** The etcd snapshot and static pod resources, afresh; `timeoutSeconds` is what is left of the Active phase. */
export const clusterBackup = (node: string, dir: string, timeoutSeconds: number): RemoteCommand[] => [
  remote(node, ['rm', '-rf', '--', `${dir}/cluster`], { sudo: true }),
  remote(node, ['/usr/local/bin/cluster-backup.sh', '--force', `${dir}/cluster`], { sudo: true, timeoutSeconds }),
];

/** The trees the recovery restores, each into its own directory of the backup. */
export const copyTrees = (node: string, dir: string, timeoutSeconds: number): RemoteCommand[] =>
  [
    ['/etc/', 'etc'],
    ['/usr/local/', 'local'],
    ['/var/lib/kubelet/', 'kubelet'],
  ].map(([from, to]) => remote(node, ['rsync', '-aAX', '--delete', from!, `${dir}/${to}/`], { sudo: true, timeoutSeconds }));

export const writeFile = (node: string, path: string, mode: string, text: string): RemoteCommand =>
  remote(node, ['install', '-m', mode, '/dev/stdin', path], { sudo: true, stdin: text });

export const writeManifest = (node: string, dir: string, timeoutSeconds: number): RemoteCommand =>
  remote(node, ['sh', '-c', writeManifestScript, 'manifest', dir], { sudo: true, timeoutSeconds });

export interface Manifest {
  files: number;
  sha256: string;
}

export function parseManifest(r: CommandResult[]): Manifest {
  const [files = '0', sum = ''] = stdoutOf(r).trim().split('\n');
  return { files: Number(files), sha256: sum.split(' ')[0] ?? '' };
}

export const verifyBackup = (node: string, dir: string): RemoteCommand[] => [
  remote(node, ['sh', '-c', verifyScript, 'verify', dir], { sudo: true }),
  remote(node, ['ostree', 'admin', 'status'], { sudo: true }),
];

export interface Verified {
  /** The files in <dir>/cluster. */
  cluster: string[];
  /** `ostree admin status`. */
  ostree: string;
}

export const parseVerified = (r: CommandResult[]): Verified => ({ cluster: (r[0]?.stdoutTail ?? '').trim().split('\n'), ostree: r[1]?.stdoutTail ?? '' });

/** The backup is usable: cluster/ has the etcd snapshot and the static pod resources, and the booted deployment is pinned. */
export function backupComplete(v: Verified, dir: string): string | undefined {
  if (!v.cluster.some((f) => /^snapshot_.*\.db$/.test(f)) || !v.cluster.some((f) => /^static_kuberesources_.*\.tar\.gz$/.test(f)))
    return `${dir}/cluster lacks the etcd snapshot or the static pod resources: ${v.cluster.join(', ')}`;
  return bootedPinnedInAdminStatus(v.ostree) ? undefined : 'ostree admin status does not show the booted deployment pinned';
}
