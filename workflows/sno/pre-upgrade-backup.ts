// snoPreUpgradeBackup: the TALM pre-upgrade backup of a Single Node OpenShift, as a runbook whose visible
// states are the seed's (PreparingToStart, Starting, Active, then Succeeded, Timeout or Error). Unlike
// TALM's backup agent, the space check comes BEFORE anything in the recovery directory is deleted, and
// what would be deleted (leftovers of an earlier attempt, standby deployments) is shown at a gate first.
// The recovery directory must be its own filesystem. The backup ends with a manifest and a standalone
// upgrade-recovery.sh, so the node can be recovered even when Temporal is unreachable.
import { z } from 'zod';
import { stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { change, gate, onlyIf, read, runbook, type RunContext } from '../engine/runbook.js';
import {
  backupComplete,
  clearRecoveryDir,
  clusterBackup,
  copyTrees,
  filesystemWarning,
  describeEntry,
  enoughSpace,
  estimateSize,
  listRecoveryDir,
  mountOf,
  noRecoveryInProgress,
  parseEntries,
  parseEstimate,
  parseManifest,
  parseMount,
  parseVerified,
  recoveryDir,
  verifyBackup,
  writeFile,
  writeManifest,
} from './backup.js';
import {
  deploymentId,
  deploymentsOf,
  onlyBootedPinned,
  parseDeployments,
  pinBooted,
  readyToPin,
  removeStandbysNote,
  standbysOf,
  undeployById,
} from './ostree.js';
import { DEFAULT_ETC_EXCLUDES, recoveryScript } from './recovery.js';

export const SnoPreUpgradeBackupInput = () =>
  z.strictObject({
    node: hostName(),
    recoveryDir: recoveryDir(),
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

/** Seconds left of the Active phase's deadline (at least 1: a command with no time left fails at once as Timeout). */
const remaining = (ctx: RunContext<Input>): number => Math.max(1, Math.floor(ctx.input.timeoutSeconds - (Date.now() - ctx.phaseSince.getTime()) / 1000));

export const snoPreUpgradeBackup = runbook({
  name: 'snoPreUpgradeBackup',
  input: SnoPreUpgradeBackupInput,
  hosts: (i) => [i.node],
  leases: (i) => [i.node],
  phases: { error: 'Error', timeout: 'Timeout', done: 'Succeeded' },
  procedure: (i) => {
    const { node: n, recoveryDir: dir } = i;
    const filesystem = read('check the recovery filesystem', () => mountOf(n, dir), {
      phase: 'PreparingToStart',
      parse: parseMount,
    });
    const warningsOf = (ctx: RunContext<unknown>): string[] => {
      const w = filesystemWarning(filesystem.value(ctx), dir);
      return w ? [`WARNING: ${w}`] : [];
    };
    const leftovers = read('look for a recovery in progress and leftovers', () => listRecoveryDir(n, dir), {
      parse: parseEntries,
      expect: (es) => noRecoveryInProgress(es, dir),
    });
    const deployments = read('read the deployments', () => deploymentsOf(n), { parse: (r) => parseDeployments(stdoutOf(r)), expect: readyToPin });
    const estimate = read('estimate the backup size', () => estimateSize(n, dir), {
      parse: (r) => parseEstimate(r, i.marginMiB),
      expect: (e) => enoughSpace(e, dir),
    });
    const hasLeftovers = onlyIf<Input>(`${dir} holds leftovers of an earlier attempt`, (ctx) => leftovers.value(ctx).length > 0);
    const hasStandbys = onlyIf<Input>('there are standby deployments', (ctx) => standbysOf(deployments.value(ctx)).length > 0);
    const pinned = read('check the pin', () => deploymentsOf(n), { parse: (r) => parseDeployments(stdoutOf(r)), expect: onlyBootedPinned });
    const manifest = change('write the manifest', (ctx: RunContext<Input>) => writeManifest(n, dir, remaining(ctx)), { parse: parseManifest });
    const verified = read('verify the backup', () => verifyBackup(n, dir), { parse: parseVerified, expect: (v) => backupComplete(v, dir), verdict: true });
    return {
      steps: [
        filesystem,
        leftovers,
        deployments,
        estimate,
        gate<Input>(
          'clear-leftovers',
          (ctx) => [
            ...warningsOf(ctx),
            `${dir} holds what an earlier, incomplete backup left; all of it is DELETED:`,
            ...leftovers.value(ctx).map((e) => `  ${describeEntry(e)}`),
          ],
          { when: hasLeftovers },
        ),
        change('clear leftovers of an earlier attempt', () => clearRecoveryDir(n, dir), { danger: true, when: hasLeftovers }),
        gate<Input>('remove-standby-deployments', (ctx) => [...warningsOf(ctx), ...removeStandbysNote(deployments.value(ctx))], { when: hasStandbys }),
        change(
          'remove the standby deployments and pin the booted one',
          (ctx) => {
            const standbys = standbysOf(deployments.value(ctx));
            return [...(standbys.length ? [undeployById(n, standbys.map(deploymentId))] : []), pinBooted(n)];
          },
          { danger: true, phase: 'Starting' },
        ),
        pinned,
        change('etcd snapshot and static pod resources', (ctx: RunContext<Input>) => clusterBackup(n, dir, remaining(ctx)), { phase: 'Active' }),
        change('copy /etc, /usr/local and /var/lib/kubelet', (ctx: RunContext<Input>) => copyTrees(n, dir, remaining(ctx))),
        change('write the exclude list and the recovery script', () => [
          writeFile(n, `${dir}/etc.exclude.list`, '0600', `${i.etcExcludes.join('\n')}\n`),
          writeFile(n, `${dir}/upgrade-recovery.sh`, '0700', recoveryScript()),
        ]),
        manifest,
        verified,
      ],
      output: (ctx) => {
        const booted = pinned.value(ctx)[0]!;
        return {
          node: n,
          recoveryDir: dir,
          warnings: [filesystemWarning(filesystem.value(ctx), dir)].filter(Boolean),
          pinned: { version: booted.version, checksum: booted.checksum },
          removedDeployments: standbysOf(deployments.value(ctx)).map((d) => `${d.version} ${deploymentId(d)}`),
          estimate: estimate.value(ctx),
          manifest: manifest.value(ctx),
          etcdSnapshot: verified.value(ctx).cluster.find((f) => f.startsWith('snapshot_')),
        };
      },
    };
  },
});
