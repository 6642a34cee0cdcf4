// snoUpgradeRecovery: "Recovery from Upgrade Failure" of the SNO seed. First the platform: classify the
// ostree deployments with the seed's table and act on the row that applies (each destructive action
// behind a gate that quotes the row); a rollback reboots the node, and the run waits for SSH with a NEW
// boot id and checks the pinned deployment is the booted one. Then upgrade-recovery.sh's two stages:
// stage 1 restores /usr/local and /etc and reboots; stage 2 restores etcd from the snapshot and kubelet
// state, relaunches, waits for the control plane, forces the redeployments and reports.
// Progress is the workflow's, mirrored to <dir>/progress so the standalone script agrees (and a run can
// pick up what the script began). A failed step parks: `decide retry` resumes it, `decide restart` (the
// seed's --restart) goes back to the stage-1 gate and runs the recovery again from there.
import { z } from 'zod';
import type { RebootSeen } from '../../activities/ssh/node-reboot.js';
import { remote, stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { call, gate, runbook, step, type RunContext, type StepEntry } from '../engine/runbook.js';
import {
  deploymentId,
  deploymentsOf,
  describeDeployment,
  parseDeployments,
  planRollback,
  REFUSED_ROWS,
  undeployById,
  type Deployment,
  type RollbackPlan,
} from './ostree.js';
import {
  clusterReport,
  CONTROL_PLANE_CONTAINERS,
  disableKubelet,
  forceRedeployment,
  parseProgress,
  recordStage,
  restoreFiles,
  restoreKubelet,
  startKubelet,
  startProgress,
  stopWorkloads,
  waitForContainers,
  waitForRevisions,
  type Stage,
} from './recovery.js';

export const SnoUpgradeRecoveryInput = () =>
  z.strictObject({
    node: hostName(),
    recoveryDir: z
      .string()
      .regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'an absolute path (letters, digits, "._-/")')
      .refine((p) => !p.split('/').includes('..') && p !== '/' && !p.endsWith('/'), 'no "..", not "/", no trailing "/"')
      .default('/var/recovery'),
    /** How long a reboot may take before the run parks (SSH back with a new boot id). */
    rebootTimeoutSeconds: z.number().int().min(30).max(7200).default(1800),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof SnoUpgradeRecoveryInput>>;
type Ctx = RunContext<Input>;

const progress = (ctx: Ctx): Stage[] => ctx.get<Stage[]>('progress');
const platform = (ctx: Ctx): { deployments: Deployment[]; plan: RollbackPlan; bootId: string } => ctx.get('platform');
/** The platform is only looked at before a recovery has begun (as upgrade-recovery.sh: no pin check while restoring). */
const platformNeeded = (ctx: Ctx): boolean => progress(ctx).length === 0;
const rollingBack = (ctx: Ctx): boolean => platformNeeded(ctx) && platform(ctx).plan.rollback;
/** A restart runs the stages again whatever the progress file said when the run began. */
const stage1Needed = (ctx: Ctx): boolean => ctx.restarts > 0 || !progress(ctx).includes('restore_files');
const stage2Needed = (ctx: Ctx): boolean => ctx.restarts > 0 || !progress(ctx).includes('restore_cluster');

const bootId = (node: string) => remote(node, ['cat', '/proc/sys/kernel/random/boot_id']);

/** Waits for the node after a reboot: SSH answers AND the boot id changed (the reboot command returns before the link drops). */
function waitForNode(name: string, node: string, before: (ctx: Ctx) => string, when: (ctx: Ctx) => boolean): StepEntry<Input> {
  return call<Input>(
    name,
    'waitForReboot',
    (ctx) => ({ host: node, previousBootId: before(ctx), timeoutSeconds: ctx.input.rebootTimeoutSeconds }),
    (ctx) => [`poll ${node}$ cat /proc/sys/kernel/random/boot_id until it is not ${safe(() => before(ctx))} (at most ${ctx.input.rebootTimeoutSeconds}s)`],
    { idempotent: true, when, as: name, timeout: '3 hours' },
  );
}

function safe(f: () => string): string {
  try {
    return f();
  } catch {
    return 'the boot id read before';
  }
}

export const snoUpgradeRecovery = runbook({
  name: 'snoUpgradeRecovery',
  input: SnoUpgradeRecoveryInput,
  hosts: (i) => [i.node],
  leases: (i) => [i.node],
  restartFrom: 'restore-files',
  steps: (i) => {
    const dir = i.recoveryDir;
    const n = i.node;
    return [
      step(
        'check the backup',
        () =>
          remote(
            n,
            [
              'sh',
              '-c',
              'cd "$1" && for d in cluster etc local kubelet; do [ -d "$d" ] || { echo "$1/$d is missing: not a complete backup" >&2; exit 1; }; done && sha256sum --quiet -c manifest.sha256 && ls cluster',
              'check-backup',
              dir,
            ],
            { sudo: true },
          ),
        {
          idempotent: true,
          readOnly: true,
          as: 'backup',
          parse: (r) => stdoutOf(r).trim().split('\n'),
        },
      ),
      step('read the progress file', () => remote(n, ['sh', '-c', 'cat "$1/progress" 2>/dev/null || true', 'read-progress', dir], { sudo: true }), {
        idempotent: true,
        readOnly: true,
        as: 'progress',
        parse: (r) => parseProgress(stdoutOf(r)),
      }),
      step('classify the platform state', () => [deploymentsOf(n), bootId(n)], {
        idempotent: true,
        readOnly: true,
        as: 'platform',
        when: platformNeeded,
        parse: (r) => {
          const deployments = parseDeployments(r[0]!.stdoutTail);
          return { deployments, plan: planRollback(deployments), bootId: r[1]!.stdoutTail.trim() };
        },
        expect: (v) => {
          const { plan, deployments } = v as { plan: RollbackPlan; deployments: Deployment[] };
          return REFUSED_ROWS.includes(plan.row) ? `${plan.says} (${deployments.map(describeDeployment).join('; ')})` : undefined;
        },
      }),
      gate<Input>(
        'undeploy-standbys',
        (ctx) => [
          `table row: ${platform(ctx).plan.says}`,
          ...platform(ctx).deployments.map((d) => `  ${platform(ctx).plan.undeploy.includes(d) ? 'REMOVE' : 'keep  '} ${describeDeployment(d)}`),
        ],
        { when: (ctx) => platformNeeded(ctx) && platform(ctx).plan.undeploy.length > 0 },
      ),
      step('undeploy standbys until the pinned one is rollback', (ctx) => undeployById(n, platform(ctx).plan.undeploy.map(deploymentId)), {
        idempotent: true,
        danger: true,
        when: (ctx) => platformNeeded(ctx) && platform(ctx).plan.undeploy.length > 0,
      }),
      step('check the pinned deployment is rollback', () => deploymentsOf(n), {
        idempotent: true,
        readOnly: true,
        when: rollingBack,
        as: 'before-rollback',
        parse: (r) => parseDeployments(stdoutOf(r)),
        expect: (v) => {
          const ds = v as Deployment[];
          const b = ds.findIndex((d) => d.booted);
          return ds[b + 1]?.pinned ? undefined : `the deployment after the booted one is not the pinned one: ${ds.map(describeDeployment).join('; ')}`;
        },
      }),
      gate<Input>(
        'platform-rollback',
        (ctx) => [
          `table row: ${platform(ctx).plan.says}`,
          `roll back to ${describeDeployment(platform(ctx).plan.pinned!)}; the node REBOOTS (boot id now ${platform(ctx).bootId})`,
        ],
        { when: rollingBack },
      ),
      step('roll back the platform and reboot', () => remote(n, ['rpm-ostree', 'rollback', '-r'], { sudo: true, timeoutSeconds: 600 }), {
        idempotent: false,
        danger: true,
        when: rollingBack,
      }),
      waitForNode('wait for the node after the rollback', n, (ctx) => platform(ctx).bootId, rollingBack),
      step('check the pinned deployment is booted', () => deploymentsOf(n), {
        idempotent: true,
        readOnly: true,
        when: rollingBack,
        as: 'after-rollback',
        parse: (r) => parseDeployments(stdoutOf(r)),
        expect: (v) => {
          const booted = (v as Deployment[]).find((d) => d.booted);
          return booted?.pinned ? undefined : `after the rollback the booted deployment is not the pinned one: ${booted ? describeDeployment(booted) : 'none'}`;
        },
      }),
      // ---- stage 1: restore_files ----
      gate<Input>(
        'restore-files',
        (ctx) => [
          ctx.restarts > 0
            ? `RESTART #${ctx.restarts} (the seed's --restart): the recovery runs again from stage 1`
            : `progress so far: ${progress(ctx).join(', ') || 'none'}`,
          'kubelet and crio are stopped, ALL pods removed and the container storage WIPED (crio wipe -f);',
          `/usr/local and /etc are REPLACED by the backup in ${dir} (rsync --delete; /etc minus ${dir}/etc.exclude.list), then the node reboots`,
        ],
        { when: stage1Needed },
      ),
      step('start the progress file', () => startProgress(n, dir), { idempotent: true, when: stage1Needed }),
      step('stop kubelet and containers', () => stopWorkloads(n), { idempotent: true, danger: true, when: stage1Needed }),
      step('restore /usr/local and /etc', () => restoreFiles(n, dir), { idempotent: true, danger: true, when: stage1Needed }),
      step('disable kubelet', () => disableKubelet(n), { idempotent: true, when: stage1Needed }),
      step('record stage restore_files', () => recordStage(n, dir, 'restore_files'), { idempotent: true, when: stage1Needed }),
      step('read the boot id', () => bootId(n), {
        idempotent: true,
        readOnly: true,
        when: stage1Needed,
        as: 'boot-before-stage-1',
        parse: (r) => stdoutOf(r).trim(),
      }),
      step('reboot the node', () => remote(n, ['systemctl', 'reboot'], { sudo: true, timeoutSeconds: 120 }), {
        idempotent: false,
        danger: true,
        when: stage1Needed,
      }),
      waitForNode('wait for the node after stage 1', n, (ctx) => ctx.get<string>('boot-before-stage-1'), stage1Needed),
      // ---- stage 2: restore_cluster ----
      step('restore kubelet state and start crio', () => restoreKubelet(n, dir), { idempotent: true, when: stage2Needed }),
      step('note the control-plane containers', () => CONTROL_PLANE_CONTAINERS.map((c) => remote(n, ['crictl', 'ps', '-q', '--name', c], { sudo: true })), {
        idempotent: true,
        readOnly: true,
        when: stage2Needed,
        as: 'containers-before',
        parse: (r) => Object.fromEntries(CONTROL_PLANE_CONTAINERS.map((c, k) => [c, (r[k]?.stdoutTail ?? '').trim().split('\n')[0] ?? ''])),
      }),
      gate<Input>(
        'restore-cluster',
        () => [`the cluster database is REPLACED by the etcd snapshot in ${dir}/cluster (cluster-restore.sh); changes made since the backup are lost`],
        { when: stage2Needed },
      ),
      step('restore the cluster database', () => remote(n, ['/usr/local/bin/cluster-restore.sh', `${dir}/cluster`], { sudo: true, timeoutSeconds: 1800 }), {
        idempotent: true,
        danger: true,
        when: stage2Needed,
      }),
      step('start kubelet', () => startKubelet(n), { idempotent: true, when: stage2Needed }),
      step('wait for the control-plane containers', (ctx) => waitForContainers(n, ctx.get<Record<string, string>>('containers-before')), {
        idempotent: true,
        readOnly: true,
        when: stage2Needed,
        timeout: '30 minutes',
      }),
      step('record stage restore_cluster', () => recordStage(n, dir, 'restore_cluster'), { idempotent: true, when: stage2Needed }),
      // ---- post-restore steps ----
      step('force the redeployments', (ctx) => forceRedeployment(n, `recovery-${ctx.startedAt.toISOString().replace(/[-:]|\.\d+/g, '')}`), {
        idempotent: true,
      }),
      step('wait for the redeployments', () => waitForRevisions(n), { idempotent: true, readOnly: true, timeout: '30 minutes' }),
      step('report the cluster state', () => clusterReport(n), {
        idempotent: true,
        readOnly: true,
        as: 'report',
        parse: (r) => r.map((x) => x.stdoutTail.trim()),
      }),
      step('clear the progress file', () => remote(n, ['rm', '-f', '--', `${dir}/progress`], { sudo: true }), { idempotent: true }),
    ];
  },
  output: (ctx) => ({
    node: ctx.input.node,
    platform: platformNeeded(ctx) ? { row: platform(ctx).plan.row, says: platform(ctx).plan.says } : { row: 'skipped: a recovery was already in progress' },
    rollbackReboot: ctx.results['wait for the node after the rollback'] as RebootSeen | undefined,
    stage1Reboot: ctx.results['wait for the node after stage 1'] as RebootSeen | undefined,
    restarts: ctx.restarts,
    report: ctx.get<string[]>('report'),
  }),
});
