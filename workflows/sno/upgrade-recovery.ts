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
import { stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { change, gate, once, onlyIf, read, runbook, type RunContext } from '../engine/runbook.js';
import { recoveryDir } from './backup.js';
import {
  bootedAsPlanned,
  bootedId,
  classifyPlatform,
  deploymentId,
  deploymentsOf,
  parseDeployments,
  pinnedIsBooted,
  pinnedIsRollback,
  refusalOf,
  rollbackNote,
  undeployById,
  undeployNote,
} from './ostree.js';
import {
  bootId,
  checkBackup,
  clearProgress,
  clusterReport,
  disableKubelet,
  forceRedeployment,
  linesOf,
  noteContainers,
  parseNotedContainers,
  parseProgress,
  platformRollback,
  readProgress,
  reboot,
  recordStage,
  redeploymentReason,
  restoreClusterDatabase,
  restoreClusterNote,
  restoreFiles,
  restoreFilesNote,
  restoreKubelet,
  stagesToRun,
  startKubelet,
  startProgress,
  stopWorkloads,
  waitForContainers,
  waitForNewBoot,
  waitForRevisions,
} from './recovery.js';

export const SnoUpgradeRecoveryInput = () =>
  z.strictObject({
    node: hostName(),
    recoveryDir: recoveryDir(),
    /** How long a reboot may take before the run parks (SSH back with a new boot id). */
    rebootTimeoutSeconds: z.number().int().min(30).max(7200).default(1800),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof SnoUpgradeRecoveryInput>>;

export const snoUpgradeRecovery = runbook({
  name: 'snoUpgradeRecovery',
  input: SnoUpgradeRecoveryInput,
  hosts: (i) => [i.node],
  leases: (i) => [i.node],
  procedure: (i) => {
    const { node: n, recoveryDir: dir, rebootTimeoutSeconds } = i;
    const backup = read('check the backup', () => checkBackup(n, dir), { parse: linesOf });
    const progress = read('read the progress file', () => readProgress(n, dir), { parse: (r) => parseProgress(stdoutOf(r)) });
    const stages = (ctx: RunContext<unknown>) => stagesToRun(progress.value(ctx), ctx.restarts);
    const platform = read('classify the platform state', () => [deploymentsOf(n), bootId(n)], {
      when: onlyIf('no recovery was in progress when the run began', (ctx) => stages(ctx).platform),
      parse: (r) => classifyPlatform(r[0]!.stdoutTail, r[1]!.stdoutTail),
      expect: refusalOf,
    });
    // stages(ctx).platform first: when a recovery was already in progress the platform was never classified.
    const undeployNeeded = onlyIf<Input>(
      'standby deployments sit between the booted and the pinned one',
      (ctx) => stages(ctx).platform && platform.value(ctx).plan.undeploy.length > 0,
    );
    const rollingBack = onlyIf<Input>('the table row calls for rpm-ostree rollback -r', (ctx) => stages(ctx).platform && platform.value(ctx).plan.rollback);
    const stage1 = onlyIf<Input>('stage 1 (restore_files) is not recorded as done, or the run was restarted', (ctx) => stages(ctx).restoreFiles);
    const stage2 = onlyIf<Input>('stage 2 (restore_cluster) is not recorded as done, or the run was restarted', (ctx) => stages(ctx).restoreCluster);

    const rollbackReboot = change('wait for the node after the rollback', (ctx) => waitForNewBoot(n, platform.value(ctx).bootId, rebootTimeoutSeconds), {
      when: rollingBack,
      timeout: '3 hours',
    });
    const restoreFilesGate = gate<Input>('restore-files', (ctx) => restoreFilesNote(progress.value(ctx), ctx.restarts, dir), { when: stage1 });
    const bootBeforeStage1 = read('read the boot id and the booted deployment', () => [bootId(n), deploymentsOf(n)], {
      when: stage1,
      parse: (r) => ({ bootId: r[0]!.stdoutTail.trim(), deployment: bootedId(parseDeployments(r[1]!.stdoutTail)) }),
    });
    const stage1Reboot = change('wait for the node after stage 1', (ctx) => waitForNewBoot(n, bootBeforeStage1.value(ctx).bootId, rebootTimeoutSeconds), {
      when: stage1,
      timeout: '3 hours',
    });
    const containersBefore = read('note the control-plane containers', () => noteContainers(n), { when: stage2, parse: parseNotedContainers });
    const report = read('report the cluster state', () => clusterReport(n), { parse: (r) => r.map((x) => x.stdoutTail.trim()) });

    return {
      steps: [
        backup,
        progress,
        platform,
        // ---- platform rollback: the seed's table ----
        gate<Input>('undeploy-standbys', (ctx) => undeployNote(platform.value(ctx)), { when: undeployNeeded }),
        change('undeploy standbys until the pinned one is rollback', (ctx) => undeployById(n, platform.value(ctx).plan.undeploy.map(deploymentId)), {
          danger: true,
          when: undeployNeeded,
        }),
        read('check the pinned deployment is rollback', () => deploymentsOf(n), {
          when: rollingBack,
          parse: (r) => parseDeployments(stdoutOf(r)),
          expect: pinnedIsRollback,
        }),
        gate<Input>('platform-rollback', (ctx) => rollbackNote(platform.value(ctx)), { when: rollingBack }),
        once('roll back the platform and reboot', () => platformRollback(n), { danger: true, when: rollingBack }),
        rollbackReboot,
        read('check the pinned deployment is booted', () => deploymentsOf(n), {
          when: rollingBack,
          parse: (r) => parseDeployments(stdoutOf(r)),
          expect: pinnedIsBooted,
        }),
        // ---- stage 1: restore_files ----
        restoreFilesGate,
        change('start the progress file', () => startProgress(n, dir), { when: stage1 }),
        change('stop kubelet and containers', () => stopWorkloads(n), { danger: true, when: stage1 }),
        change('restore /usr/local and /etc', () => restoreFiles(n, dir), { danger: true, when: stage1 }),
        change('disable kubelet', () => disableKubelet(n), { when: stage1 }),
        change('record stage restore_files', () => recordStage(n, dir, 'restore_files'), { when: stage1 }),
        bootBeforeStage1,
        once('reboot the node', () => reboot(n), { danger: true, when: stage1 }),
        stage1Reboot,
        read('check the node booted the same deployment', () => deploymentsOf(n), {
          when: stage1,
          parse: (r) => parseDeployments(stdoutOf(r)),
          expect: (ds, ctx) => bootedAsPlanned(ds, bootBeforeStage1.value(ctx).deployment),
        }),
        // ---- stage 2: restore_cluster ----
        change('restore kubelet state and start crio', () => restoreKubelet(n, dir), { when: stage2 }),
        containersBefore,
        gate<Input>('restore-cluster', () => restoreClusterNote(dir), { when: stage2 }),
        change('restore the cluster database', () => restoreClusterDatabase(n, dir), { danger: true, when: stage2 }),
        change('start kubelet', () => startKubelet(n), { when: stage2 }),
        read('wait for the control-plane containers', (ctx) => waitForContainers(n, containersBefore.value(ctx)), { when: stage2, timeout: '30 minutes' }),
        change('record stage restore_cluster', () => recordStage(n, dir, 'restore_cluster'), { when: stage2 }),
        // ---- post-restore steps ----
        change('force the redeployments', (ctx) => forceRedeployment(n, redeploymentReason(ctx.startedAt))),
        read('wait for the redeployments', () => waitForRevisions(n), { timeout: '30 minutes' }),
        report,
        change('clear the progress file', () => clearProgress(n, dir)),
      ],
      restartFrom: restoreFilesGate,
      output: (ctx) => {
        const p = stages(ctx).platform ? platform.value(ctx).plan : undefined;
        return {
          node: n,
          platform: p ? { row: p.row, says: p.says } : { row: 'skipped: a recovery was already in progress' },
          rollbackReboot: rollbackReboot.valueIfRan(ctx),
          stage1Reboot: stage1Reboot.valueIfRan(ctx),
          restarts: ctx.restarts,
          report: report.value(ctx),
        };
      },
    };
  },
});
