#!/bin/sh
# upgrade-recovery.sh, written by the runbooks snoPreUpgradeBackup next to the backup it belongs to.
# Recover the node when Temporal is unreachable: run it, reboot when told, run it again with --resume.
# --restart starts over from stage 1 (it clears the progress file). Progress: <dir>/progress, shared
# with the snoUpgradeRecovery runbook, so either can continue what the other began.
set -eu
# The runbook's lists and its two wait loops (workflows/sno/recovery.ts, scripts/wait-for-*.sh):
# test/unit/sno.test.ts holds them equal, so both recoveries do the same thing in the same order.
CONTROL_PLANE_CONTAINERS="etcd etcd-operator kube-apiserver-operator kube-controller-manager-operator kube-scheduler-operator"
REDEPLOYED_OPERATORS="etcd kubeapiserver kubecontrollermanager kubescheduler"
NODE_KUBECONFIG=/etc/kubernetes/static-pod-resources/kube-apiserver-certs/secrets/node-kubeconfigs/localhost.kubeconfig
wait_for_containers() {
for pair in "$@"; do
  name=${pair%%=*}; old=${pair#*=}
  until id=$(crictl ps -q --name "$name" | head -n1) && [ -n "$id" ] && [ "$id" != "$old" ]; do sleep 2; done
  echo "$name: $id (was ${old:-none})"
done
}
wait_for_revisions() {
for op in "$@"; do
  # shellcheck disable=SC2046 # split on purpose: the two revisions become $1 and $2
  until set -- $(oc get "$op" cluster -o jsonpath="{.status.latestAvailableRevision} {.status.nodeStatuses[0].currentRevision}") && [ -n "${1:-}" ] && [ "$1" = "${2:-}" ]; do sleep 5; done
  echo "$op: revision $1 rolled out"
done
}
DIR=/var/recovery; MODE=; RESTART=
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift ;;
    --resume) MODE=resume ;;
    --restart) RESTART=yes; MODE=resume ;;
    *) echo "usage: $0 [--dir DIR] [--resume|--restart]" >&2; exit 2 ;;
  esac
  shift
done
# After the loop: "--restart --dir X" clears X's progress, not the default directory's.
if [ -n "$RESTART" ]; then rm -f "$DIR/progress"; fi
for d in cluster etc local kubelet; do [ -d "$DIR/$d" ] || { echo "$DIR/$d is missing: not a complete backup" >&2; exit 1; }; done
(cd "$DIR" && sha256sum --quiet -c manifest.sha256) || { echo "the backup does not match its manifest" >&2; exit 1; }
if [ -e "$DIR/progress" ] && [ -z "$MODE" ]; then echo "a recovery is in progress ($(tr '\n' ' ' < "$DIR/progress")): use --resume or --restart" >&2; exit 1; fi
done_stage() { grep -qx "$1" "$DIR/progress" 2>/dev/null; }
record() { done_stage "$1" || echo "$1" >> "$DIR/progress"; }
export KUBECONFIG="$NODE_KUBECONFIG"
if ! done_stage restore_files; then
  echo started > "$DIR/progress"
  if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce)" = Enforcing ]; then setenforce 0; fi
  systemctl stop kubelet; crictl rmp -fa; systemctl stop crio; crio wipe -f
  rsync -aAXc --delete "$DIR/local/" /usr/local/
  rsync -aAXc --delete --exclude-from="$DIR/etc.exclude.list" "$DIR/etc/" /etc/
  if [ -f "$DIR/extras.tgz" ]; then tar -C / -xzf "$DIR/extras.tgz"; fi
  systemctl daemon-reload; systemctl disable kubelet
  record restore_files
  echo "stage 1 done: reboot now (systemctl reboot), then run $0 --dir $DIR --resume"
  exit 0
fi
if ! done_stage restore_cluster; then
  rsync -aAXc --delete "$DIR/kubelet/" /var/lib/kubelet/
  systemctl start crio
  # The containers' ids before the restore, as <name>=<id> arguments of wait_for_containers.
  set --
  for n in $CONTROL_PLANE_CONTAINERS; do set -- "$@" "$n=$(crictl ps -q --name "$n" | head -n1)"; done
  /usr/local/bin/cluster-restore.sh "$DIR/cluster"
  systemctl enable kubelet; systemctl restart kubelet; systemctl restart crio
  wait_for_containers "$@"
  record restore_cluster
fi
reason="recovery-$(date -u +%Y%m%dT%H%M%SZ)"
for op in $REDEPLOYED_OPERATORS; do oc patch "$op" cluster --type=merge -p "{\"spec\":{\"forceRedeploymentReason\":\"$reason\"}}"; done
# shellcheck disable=SC2086 # the list is split into one argument per operator on purpose
wait_for_revisions $REDEPLOYED_OPERATORS
oc adm upgrade; oc get co; oc get nodes; oc get mcp
rm -f "$DIR/progress"
echo "recovery complete"
