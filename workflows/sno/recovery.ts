// What the SNO backup leaves in the recovery directory and how both recoveries (the runbook, and the
// standalone script for when Temporal is unreachable) use it. One list of commands per stage, so the
// workflow's steps and the script written next to the backup do the same thing in the same order.
import { remote, type RemoteCommand } from '../engine/commands.js';

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
  remote(node, ['rsync', '-aAXc', '--delete', `${dir}/local/`, '/usr/local/'], { sudo: true, timeoutSeconds: 3600 }),
  remote(node, ['rsync', '-aAXc', '--delete', `--exclude-from=${dir}/etc.exclude.list`, `${dir}/etc/`, '/etc/'], { sudo: true, timeoutSeconds: 3600 }),
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
export const WAIT_FOR_CONTAINERS = [
  'for pair in "$@"; do',
  '  name=${pair%%=*}; old=${pair#*=}',
  '  until id=$(crictl ps -q --name "$name" | head -n1) && [ -n "$id" ] && [ "$id" != "$old" ]; do sleep 2; done',
  '  echo "$name: $id (was ${old:-none})"',
  'done',
].join('\n');

export const waitForContainers = (node: string, noted: Record<string, string>): RemoteCommand =>
  remote(node, ['sh', '-c', WAIT_FOR_CONTAINERS, 'wait-for-containers', ...CONTROL_PLANE_CONTAINERS.map((n) => `${n}=${noted[n] ?? ''}`)], {
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
export const WAIT_FOR_REVISIONS = [
  'for op in "$@"; do',
  '  until set -- $(oc get "$op" cluster -o jsonpath="{.status.latestAvailableRevision} {.status.nodeStatuses[0].currentRevision}") && [ -n "$1" ] && [ "$1" = "$2" ]; do sleep 5; done',
  '  echo "$op: revision $1 rolled out"',
  'done',
].join('\n');

export const waitForRevisions = (node: string): RemoteCommand =>
  remote(node, ['sh', '-c', WAIT_FOR_REVISIONS, 'wait-for-revisions', ...REDEPLOYED_OPERATORS], {
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
export function recoveryScript(): string {
  return `#!/bin/sh
# upgrade-recovery.sh, written by the runbooks snoPreUpgradeBackup next to the backup it belongs to.
# Recover the node when Temporal is unreachable: run it, reboot when told, run it again with --resume.
# --restart starts over from stage 1 (it clears the progress file). Progress: <dir>/progress, shared
# with the snoUpgradeRecovery runbook, so either can continue what the other began.
set -eu
DIR=/var/recovery; MODE=
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift ;;
    --resume) MODE=resume ;;
    --restart) rm -f "$DIR/progress"; MODE=resume ;;
    *) echo "usage: $0 [--dir DIR] [--resume|--restart]" >&2; exit 2 ;;
  esac
  shift
done
for d in cluster etc local kubelet; do [ -d "$DIR/$d" ] || { echo "$DIR/$d is missing: not a complete backup" >&2; exit 1; }; done
(cd "$DIR" && sha256sum --quiet -c manifest.sha256) || { echo "the backup does not match its manifest" >&2; exit 1; }
if [ -e "$DIR/progress" ] && [ -z "$MODE" ]; then echo "a recovery is in progress ($(tr '\\n' ' ' < "$DIR/progress")): use --resume or --restart" >&2; exit 1; fi
done_stage() { grep -qx "$1" "$DIR/progress" 2>/dev/null; }
record() { done_stage "$1" || echo "$1" >> "$DIR/progress"; }
export KUBECONFIG=${NODE_KUBECONFIG}
if ! done_stage restore_files; then
  echo started > "$DIR/progress"
  systemctl stop kubelet; crictl rmp -fa; systemctl stop crio; crio wipe -f
  rsync -aAXc --delete "$DIR/local/" /usr/local/
  rsync -aAXc --delete --exclude-from="$DIR/etc.exclude.list" "$DIR/etc/" /etc/
  systemctl daemon-reload; systemctl disable kubelet
  record restore_files
  echo "stage 1 done: reboot now (systemctl reboot), then run $0 --dir $DIR --resume"
  exit 0
fi
if ! done_stage restore_cluster; then
  rsync -aAXc --delete "$DIR/kubelet/" /var/lib/kubelet/
  systemctl start crio
  noted=
  for n in ${CONTROL_PLANE_CONTAINERS.join(' ')}; do noted="$noted $n=$(crictl ps -q --name "$n" | head -n1)"; done
  /usr/local/bin/cluster-restore.sh "$DIR/cluster"
  systemctl enable kubelet; systemctl restart kubelet; systemctl restart crio
  sh -c '${WAIT_FOR_CONTAINERS.replace(/'/g, `'"'"'`)}' wait-for-containers $noted
  record restore_cluster
fi
reason="recovery-$(date -u +%Y%m%dT%H%M%SZ)"
for op in ${REDEPLOYED_OPERATORS.join(' ')}; do oc patch "$op" cluster --type=merge -p "{\\"spec\\":{\\"forceRedeploymentReason\\":\\"$reason\\"}}"; done
sh -c '${WAIT_FOR_REVISIONS.replace(/'/g, `'"'"'`)}' wait-for-revisions ${REDEPLOYED_OPERATORS.join(' ')}
oc adm upgrade; oc get co; oc get nodes; oc get mcp
rm -f "$DIR/progress"
echo "recovery complete"
`;
}
