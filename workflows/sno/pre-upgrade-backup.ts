// snoPreUpgradeBackup: the TALM pre-upgrade backup of a Single Node OpenShift, as a runbook whose visible
// states are the seed's (PreparingToStart, Starting, Active, then Succeeded, Timeout or Error). Unlike
// TALM's backup agent, the space check comes BEFORE anything in the recovery directory is deleted, and
// what would be deleted (leftovers of an earlier attempt, standby deployments) is shown at a gate first.
// The recovery directory must be its own filesystem. The backup ends with a manifest and a standalone
// upgrade-recovery.sh, so the node can be recovered even when Temporal is unreachable.
import { z } from 'zod';
import { remote, stdoutOf, type CommandResult } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { gate, runbook, step, type RunContext } from '../engine/runbook.js';
import { DEFAULT_ETC_EXCLUDES, recoveryScript } from './recovery.js';
import { deploymentId, deploymentsOf, describeDeployment, parseDeployments, pinBooted, undeployById, type Deployment } from './ostree.js';

const absoluteDir = () =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'an absolute path (letters, digits, "._-/")')
    .refine((p) => !p.split('/').includes('..') && p !== '/' && !p.endsWith('/'), 'no "..", not "/", no trailing "/"');

export const SnoPreUpgradeBackupInput = () =>
  z.strictObject({
    node: hostName(),
    recoveryDir: absoluteDir().default('/var/recovery'),
    /** The whole Active phase's deadline (TALM: 480 s + 720 s buffer); past it the run shows Timeout and can be continued. */
    timeoutSeconds: z.number().int().min(30).max(86_400).default(1200),
    /** Free space required on top of the estimate (TALM: 10 GiB). */
    marginMiB: z.number().int().min(0).max(1_048_576).default(10_240),
    /** Paths under /etc (as "/name") never restored over the recovered node. */
    etcExcludes: z
      .array(z.string().regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'a path under /etc such as "/machine-id"'))
      .max(100)
      .default(DEFAULT_ETC_EXCLUDES),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof SnoPreUpgradeBackupInput>>;
type Ctx = RunContext<Input>;

interface Entry {
  kind: string;
  bytes: number;
  name: string;
}

interface Estimate {
  parts: Record<string, number>;
  estimate: number;
  margin: number;
  available: number;
}

const MiB = 1024 * 1024;
const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;

/** TALM's estimate (recovery/cmd/backup_size.go): static pod resources without bin/, the etcd db, /usr/local, /var/lib/kubelet, /etc. */
const ESTIMATE = [
  'size() { if [ -e "$1" ]; then du -sb "$1" | cut -f1; else echo 0; fi; }',
  'echo static-pod-resources $(( $(size /etc/kubernetes/static-pod-resources) - $(size /etc/kubernetes/static-pod-resources/bin) ))',
  'echo etcd-db $(size /var/lib/etcd/member/snap/db)',
  'echo usr-local $(size /usr/local/)',
  'echo kubelet $(size /var/lib/kubelet)',
  'echo etc $(size /etc)',
  'echo available $(df -B1 --output=avail "$1" | tail -n1)',
].join('\n');

const leftovers = (ctx: Ctx): Entry[] => ctx.get<Entry[]>('leftovers');
const deployments = (ctx: Ctx): Deployment[] => ctx.get<Deployment[]>('deployments');
const standbys = (ctx: Ctx): Deployment[] => deployments(ctx).filter((d) => !d.booted);
/** Seconds left of the Active phase's deadline (at least 1: a command with no time left fails at once as Timeout). */
const remaining = (ctx: Ctx): number => Math.max(1, Math.floor(ctx.input.timeoutSeconds - (Date.now() - ctx.phaseSince.getTime()) / 1000));

export const snoPreUpgradeBackup = runbook({
  name: 'snoPreUpgradeBackup',
  input: SnoPreUpgradeBackupInput,
  hosts: (i) => [i.node],
  leases: (i) => [i.node],
  phases: { error: 'Error', timeout: 'Timeout', done: 'Succeeded' },
  steps: (i) => {
    const dir = i.recoveryDir;
    return [
      step('check the recovery filesystem', () => remote(i.node, ['findmnt', '-n', '-o', 'TARGET,SOURCE,FSTYPE', '--target', dir]), {
        idempotent: true,
        readOnly: true,
        phase: 'PreparingToStart',
        as: 'filesystem',
        parse: (r) => {
          const [target = '', source = '', fstype = ''] = stdoutOf(r).trim().split(/\s+/);
          return { target, source, fstype };
        },
        expect: (v) => {
          const fs = v as { target: string; source: string; fstype: string };
          return fs.target === dir
            ? undefined
            : `${dir} is not a dedicated filesystem: it is on ${fs.target}'s (${fs.source}, ${fs.fstype}); the seed requires a recovery partition`;
        },
      }),
      step(
        'look for a recovery in progress and leftovers',
        () => remote(i.node, ['find', dir, '-mindepth', '1', '-maxdepth', '1', '-printf', '%y %s %f\\n'], { sudo: true }),
        {
          idempotent: true,
          readOnly: true,
          as: 'leftovers',
          parse: (r) =>
            stdoutOf(r)
              .split('\n')
              .filter(Boolean)
              .map((l) => {
                const [kind = '', bytes = '0', ...name] = l.split(' ');
                return { kind, bytes: Number(bytes), name: name.join(' ') };
              }),
          expect: (v) =>
            (v as Entry[]).some((e) => e.name === 'progress')
              ? `a recovery is in progress (${dir}/progress exists): finish it (snoUpgradeRecovery) before taking a new backup, which would wipe the one it needs`
              : undefined,
        },
      ),
      step('read the deployments', () => deploymentsOf(i.node), {
        idempotent: true,
        readOnly: true,
        as: 'deployments',
        parse: (r) => parseDeployments(stdoutOf(r)),
        expect: (v) => {
          const ds = v as Deployment[];
          const staged = ds.find((d) => d.staged);
          if (staged)
            return `a deployment is staged for the next boot (${describeDeployment(staged)}): an upgrade is under way; pinning would be refused (ostree: "Cannot pin staged deployment")`;
          return ds.some((d) => d.booted) ? undefined : 'rpm-ostree reports no booted deployment';
        },
      }),
      step('estimate the backup size', () => remote(i.node, ['sh', '-c', ESTIMATE, 'estimate', dir], { sudo: true }), {
        idempotent: true,
        readOnly: true,
        as: 'estimate',
        parse: (r) => {
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
          return { parts, estimate, margin: i.marginMiB * MiB, available } satisfies Estimate;
        },
        // Checked before anything is deleted (TALM wipes the directory first, then finds there is no room).
        expect: (v) => {
          const e = v as Estimate;
          if (e.available >= e.estimate + e.margin) return undefined;
          const parts = Object.entries(e.parts)
            .map(([k, n]) => `${k} ${mib(n)}`)
            .join(', ');
          return `not enough space on ${dir}: ${mib(e.available)} available, the backup needs ${mib(e.estimate)} (${parts}) + margin ${mib(e.margin)} = ${mib(e.estimate + e.margin)}; nothing was deleted`;
        },
      }),
      gate<Input>(
        'clear-leftovers',
        (ctx) => [
          `${dir} holds what an earlier, incomplete backup left; all of it is DELETED:`,
          ...leftovers(ctx).map((e) => `  ${e.kind === 'd' ? 'dir ' : 'file'} ${e.name} (${e.bytes} bytes)`),
        ],
        { when: (ctx) => leftovers(ctx).length > 0 },
      ),
      step(
        'clear leftovers of an earlier attempt',
        () => remote(i.node, ['find', dir, '-mindepth', '1', '-maxdepth', '1', '-exec', 'rm', '-rf', '--', '{}', '+'], { sudo: true }),
        {
          idempotent: true,
          danger: true,
          when: (ctx) => leftovers(ctx).length > 0,
        },
      ),
      gate<Input>(
        'remove-standby-deployments',
        (ctx) => [
          'the booted deployment is pinned and every other deployment is REMOVED (ostree admin undeploy):',
          ...deployments(ctx).map((d) => `  ${d.booted ? 'keep  ' : 'REMOVE'} ${describeDeployment(d)}`),
        ],
        { when: (ctx) => standbys(ctx).length > 0 },
      ),
      step(
        'remove the standby deployments and pin the booted one',
        (ctx) => [...(standbys(ctx).length ? [undeployById(i.node, standbys(ctx).map(deploymentId))] : []), pinBooted(i.node)],
        {
          idempotent: true,
          danger: true,
          phase: 'Starting',
        },
      ),
      step('check the pin', () => deploymentsOf(i.node), {
        idempotent: true,
        readOnly: true,
        as: 'pinned',
        parse: (r) => parseDeployments(stdoutOf(r)),
        expect: (v) => {
          const ds = v as Deployment[];
          return ds.length === 1 && ds[0]!.booted && ds[0]!.pinned
            ? undefined
            : `expected one booted, pinned deployment, found: ${ds.map(describeDeployment).join('; ')}`;
        },
      }),
      step(
        'etcd snapshot and static pod resources',
        (ctx) => [
          remote(i.node, ['rm', '-rf', '--', `${dir}/cluster`], { sudo: true }),
          remote(i.node, ['/usr/local/bin/cluster-backup.sh', '--force', `${dir}/cluster`], { sudo: true, timeoutSeconds: remaining(ctx) }),
        ],
        { idempotent: true, phase: 'Active', as: 'cluster' },
      ),
      step(
        'copy /etc, /usr/local and /var/lib/kubelet',
        (ctx) =>
          [
            ['/etc/', 'etc'],
            ['/usr/local/', 'local'],
            ['/var/lib/kubelet/', 'kubelet'],
          ].map(([from, to]) => remote(i.node, ['rsync', '-aAX', '--delete', from!, `${dir}/${to}/`], { sudo: true, timeoutSeconds: remaining(ctx) })),
        { idempotent: true },
      ),
      step(
        'write the exclude list and the recovery script',
        () => [
          remote(i.node, ['install', '-m', '0600', '/dev/stdin', `${dir}/etc.exclude.list`], { sudo: true, stdin: `${i.etcExcludes.join('\n')}\n` }),
          remote(i.node, ['install', '-m', '0700', '/dev/stdin', `${dir}/upgrade-recovery.sh`], { sudo: true, stdin: recoveryScript() }),
        ],
        { idempotent: true },
      ),
      step(
        'write the manifest',
        (ctx) =>
          remote(
            i.node,
            [
              'sh',
              '-c',
              'cd "$1" && find . -type f ! -name manifest.sha256 -print0 | sort -z | xargs -0 sha256sum > manifest.sha256 && wc -l < manifest.sha256 && sha256sum manifest.sha256',
              'manifest',
              dir,
            ],
            { sudo: true, timeoutSeconds: remaining(ctx) },
          ),
        {
          idempotent: true,
          as: 'manifest',
          parse: (r) => {
            const [files = '0', sum = ''] = stdoutOf(r).trim().split('\n');
            return { files: Number(files), sha256: sum.split(' ')[0] ?? '' };
          },
        },
      ),
      step(
        'verify the backup',
        () => [
          remote(
            i.node,
            [
              'sh',
              '-c',
              'cd "$1" && sha256sum --quiet -c manifest.sha256 && ls cluster && for d in etc local kubelet; do [ -d "$d" ] || { echo "missing $d" >&2; exit 1; }; done',
              'verify',
              dir,
            ],
            { sudo: true },
          ),
          remote(i.node, ['ostree', 'admin', 'status'], { sudo: true }),
        ],
        {
          idempotent: true,
          readOnly: true,
          verdict: true,
          as: 'verified',
          parse: (r: CommandResult[]) => ({ cluster: (r[0]?.stdoutTail ?? '').trim().split('\n'), ostree: r[1]?.stdoutTail ?? '' }),
          expect: (v) => {
            const { cluster, ostree } = v as { cluster: string[]; ostree: string };
            if (!cluster.some((f) => /^snapshot_.*\.db$/.test(f)) || !cluster.some((f) => /^static_kuberesources_.*\.tar\.gz$/.test(f)))
              return `${dir}/cluster lacks the etcd snapshot or the static pod resources: ${cluster.join(', ')}`;
            // `ostree admin status`: the booted line starts with "*", "Pinned: yes" is among its indented lines.
            const booted = ostree.split(/\n(?=[* ] \S)/).find((b) => b.startsWith('* '));
            return booted?.includes('Pinned: yes') ? undefined : 'ostree admin status does not show the booted deployment pinned';
          },
        },
      ),
    ];
  },
  output: (ctx) => {
    const pinned = ctx.get<Deployment[]>('pinned')[0]!;
    return {
      node: ctx.input.node,
      recoveryDir: ctx.input.recoveryDir,
      pinned: { version: pinned.version, checksum: pinned.checksum },
      removedDeployments: deployments(ctx)
        .filter((d) => !d.booted)
        .map((d) => `${d.version} ${deploymentId(d)}`),
      estimate: ctx.get<Estimate>('estimate'),
      manifest: ctx.get('manifest'),
      etcdSnapshot: ctx.get<{ cluster: string[] }>('verified').cluster.find((f) => f.startsWith('snapshot_')),
    };
  },
});
