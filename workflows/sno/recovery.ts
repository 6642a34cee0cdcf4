// What the SNO backup leaves in the recovery directory and how both recoveries (the runbook, and the
// standalone scripts/upgrade-recovery.sh for when Temporal is unreachable) use it. One list of commands
// per stage, so the workflow's steps and the script written next to the backup do the same thing in the
// same order (test/unit/sno.test.ts holds the script's lists and loops equal to these).
import { remote, stdoutOf, type CommandResult, type RemoteCommand } from '../engine/commands.js';
import { activity, type ActivityCall } from '../engine/steps.js';
import { DELETE_CGU_FIRST } from './ostree.js';
import checkBackupScript from './scripts/check-backup.sh';
import prepareRestoreFilesScript from './scripts/prepare-restore-files.sh';
import restoreExtrasScript from './scripts/restore-extras.sh';
import upgradeRecoveryScript from './scripts/upgrade-recovery.sh';
import waitForContainersScript from './scripts/wait-for-containers.sh';
import waitForRevisionsScript from './scripts/wait-for-revisions.sh';

export const CONTROL_PLANE_CONTAINERS = ['etcd', 'etcd-operator', 'kube-apiserver-operator', 'kube-controller-manager-operator', 'kube-scheduler-operator'];
export const REDEPLOYED_OPERATORS = ['etcd', 'kubeapiserver', 'kubecontrollermanager', 'kubescheduler'];
/** The node's own kubeconfig on SNO (what upgrade-recovery.sh uses). */
export const NODE_KUBECONFIG = '/etc/kubernetes/static-pod-resources/kube-apiserver-certs/secrets/node-kubeconfigs/localhost.kubeconfig';
/** Progress stages, appended once each to <dir>/progress, as upgrade-recovery.sh does. */
export type Stage = 'started' | 'restore_files' | 'restore_cluster';

/** Never restored over the recovered node's /etc: its identity and state that must stay the node's own. */
export const DEFAULT_ETC_EXCLUDES = ['/machine-id', '/hostname', '/.pwd.lock', '/kubernetes/lab-etcd.env'];

export function parseProgress(text: string): Stage[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l): l is Stage => l === 'started' || l === 'restore_files' || l === 'restore_cluster');
}

export const recordStage = (node: string, dir: string, stage: Stage): RemoteCommand =>
  remote(node, ['sh', '-c', 'grep -qx "$2" "$1/progress" 2>/dev/null || echo "$2" >> "$1/progress"', 'record-stage', dir, stage], { sudo: true });

/** Stage 1 begins by starting the progress file afresh: a restart (the seed's --restart) clears it. */
export const startProgress = (node: string, dir: string): RemoteCommand =>
  remote(node, ['sh', '-c', 'echo started > "$1/progress"', 'start-progress', dir], { sudo: true });

export const stopWorkloads = (node: string): RemoteCommand[] => [
  remote(node, ['systemctl', 'stop', 'kubelet'], { sudo: true, timeoutSeconds: 300 }),
  remote(node, ['crictl', 'rmp', '-fa'], { sudo: true, timeoutSeconds: 300 }),
  remote(node, ['systemctl', 'stop', 'crio'], { sudo: true, timeoutSeconds: 300 }),
  remote(node, ['crio', 'wipe', '-f'], { sudo: true, timeoutSeconds: 300 }),
];

export const restoreFiles = (node: string, dir: string): RemoteCommand[] => [
  remote(node, ['sh', '-c', prepareRestoreFilesScript, 'prepare-restore-files'], { sudo: true }),
  remote(node, ['rsync', '-aAXc', '--delete', `${dir}/local/`, '/usr/local/'], { sudo: true, timeoutSeconds: 3600 }),
  remote(node, ['rsync', '-aAXc', '--delete', `--exclude-from=${dir}/etc.exclude.list`, `${dir}/etc/`, '/etc/'], { sudo: true, timeoutSeconds: 3600 }),
  remote(node, ['sh', '-c', restoreExtrasScript, 'restore-extras', dir], { sudo: true, timeoutSeconds: 600 }),
];

export const disableKubelet = (node: string): RemoteCommand[] => [
  remote(node, ['systemctl', 'daemon-reload'], { sudo: true }),
  remote(node, ['systemctl', 'disable', 'kubelet'], { sudo: true }),
];

export const restoreKubelet = (node: string, dir: string): RemoteCommand[] => [
  remote(node, ['rsync', '-aAXc', '--delete', `${dir}/kubelet/`, '/var/lib/kubelet/'], { sudo: true, timeoutSeconds: 3600 }),
  remote(node, ['systemctl', 'start', 'crio'], { sudo: true }),
];

export const startKubelet = (node: string): RemoteCommand[] => [
  remote(node, ['systemctl', 'enable', 'kubelet'], { sudo: true }),
  remote(node, ['systemctl', 'restart', 'kubelet'], { sudo: true }),
  remote(node, ['systemctl', 'restart', 'crio'], { sudo: true }),
];

/** Waits until every control-plane container runs with an id other than the one noted before the restore. */
export const waitForContainers = (node: string, noted: Record<string, string>): RemoteCommand =>
  remote(node, ['sh', '-c', waitForContainersScript, 'wait-for-containers', ...CONTROL_PLANE_CONTAINERS.map((n) => `${n}=${noted[n] ?? ''}`)], {
    sudo: true,
    timeoutSeconds: 1200,
  });

export const forceRedeployment = (node: string, reason: string): RemoteCommand[] =>
  REDEPLOYED_OPERATORS.map((op) =>
    remote(node, ['oc', 'patch', op, 'cluster', '--type=merge', '-p', JSON.stringify({ spec: { forceRedeploymentReason: reason } })], {
      sudo: true,
      env: { KUBECONFIG: NODE_KUBECONFIG },
    }),
  );

/** Polls currentRevision against latestAvailableRevision per operator, as the seed's post-restore steps do. */
export const waitForRevisions = (node: string): RemoteCommand =>
  remote(node, ['sh', '-c', waitForRevisionsScript, 'wait-for-revisions', ...REDEPLOYED_OPERATORS], {
    sudo: true,
    timeoutSeconds: 1200,
    env: { KUBECONFIG: NODE_KUBECONFIG },
  });

export const clusterReport = (node: string): RemoteCommand[] =>
  [
    ['adm', 'upgrade'],
    ['get', 'co'],
    ['get', 'nodes'],
    ['get', 'mcp'],
  ].map((a) => remote(node, ['oc', ...a], { sudo: true, env: { KUBECONFIG: NODE_KUBECONFIG } }));

/**
 * The standalone recovery script written next to the backup, so the node can be recovered with nothing
 * but a console when Temporal is unreachable. Same stages, same progress file, same commands as the
 * runbook; options as upgrade-recovery.sh: --dir, --resume, --restart.
 */
export const recoveryScript = (): string => upgradeRecoveryScript;

/** The backup has its four parts and matches its manifest; its value is the listing of cluster/. */
export const checkBackup = (node: string, dir: string): RemoteCommand => remote(node, ['sh', '-c', checkBackupScript, 'check-backup', dir], { sudo: true });

export const readProgress = (node: string, dir: string): RemoteCommand =>
  remote(node, ['sh', '-c', 'cat "$1/progress" 2>/dev/null || true', 'read-progress', dir], { sudo: true });

export const clearProgress = (node: string, dir: string): RemoteCommand => remote(node, ['rm', '-f', '--', `${dir}/progress`], { sudo: true });

export const bootId = (node: string): RemoteCommand => remote(node, ['cat', '/proc/sys/kernel/random/boot_id']);

export const reboot = (node: string): RemoteCommand => remote(node, ['systemctl', 'reboot'], { sudo: true, timeoutSeconds: 120 });

export const platformRollback = (node: string): RemoteCommand => remote(node, ['rpm-ostree', 'rollback', '-r'], { sudo: true, timeoutSeconds: 600 });

export const restoreClusterDatabase = (node: string, dir: string): RemoteCommand =>
  remote(node, ['/usr/local/bin/cluster-restore.sh', `${dir}/cluster`], { sudo: true, timeoutSeconds: 1800 });

export const noteContainers = (node: string): RemoteCommand[] =>
  CONTROL_PLANE_CONTAINERS.map((c) => remote(node, ['crictl', 'ps', '-q', '--name', c], { sudo: true }));

/** `crictl ps -q` per control-plane container (in CONTROL_PLANE_CONTAINERS order): the first id of each, '' when none runs. */
export function parseNotedContainers(r: CommandResult[]): Record<string, string> {
  return Object.fromEntries(CONTROL_PLANE_CONTAINERS.map((c, k) => [c, (r[k]?.stdoutTail ?? '').trim().split('\n')[0] ?? '']));
}

export const linesOf = (r: CommandResult[]): string[] => stdoutOf(r).trim().split('\n');

/** The reason given to the forced redeployments: the run's start, e.g. recovery-20240501T101500Z (deterministic across replays). */
export const redeploymentReason = (startedAt: Date): string => `recovery-${startedAt.toISOString().replace(/[-:]|\.\d+/g, '')}`;

/**
 * Which stages a recovery runs, from the progress file read at its start (upgrade-recovery.sh's rule:
 * a stage recorded as done is not run again). The platform is only looked at before a recovery began
 * (no pin check while restoring). After an operator's restart (the seed's --restart) both stages run
 * again, whatever the file said when the run began.
 */
export function stagesToRun(progress: Stage[], restarts: number): { platform: boolean; restoreFiles: boolean; restoreCluster: boolean } {
  return {
    platform: progress.length === 0,
    restoreFiles: restarts > 0 || !progress.includes('restore_files'),
    restoreCluster: restarts > 0 || !progress.includes('restore_cluster'),
  };
}

/**
 * Waits for the node after a reboot: SSH answers AND the boot id is not the one read before (the reboot
 * command returns before the link drops, so "SSH answers" alone would be a false positive).
 */
export const waitForNewBoot = (node: string, previousBootId: string, timeoutSeconds: number): ActivityCall<'waitForReboot'> =>
  activity('waitForReboot', { host: node, previousBootId, timeoutSeconds }, (r) => [
    `poll ${r.host}$ cat /proc/sys/kernel/random/boot_id until it is not ${r.previousBootId} (at most ${r.timeoutSeconds}s)`,
  ]);

/** The restore-files gate: where the recovery stands (or which restart this is) and what stage 1 destroys. */
export function restoreFilesNote(progress: Stage[], restarts: number, dir: string): string[] {
  return [
    DELETE_CGU_FIRST,
    restarts > 0 ? `RESTART #${restarts} (the seed's --restart): the recovery runs again from stage 1` : `progress so far: ${progress.join(', ') || 'none'}`,
    'kubelet and crio are stopped, ALL pods removed and the container storage WIPED (crio wipe -f);',
    `/usr/local and /etc are REPLACED by the backup in ${dir} (rsync --delete; /etc minus ${dir}/etc.exclude.list), then the node reboots`,
  ];
}

export const restoreClusterNote = (dir: string): string[] => [
  `the cluster database is REPLACED by the etcd snapshot in ${dir}/cluster (cluster-restore.sh); changes made since the backup are lost`,
];
