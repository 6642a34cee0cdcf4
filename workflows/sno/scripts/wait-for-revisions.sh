#!/bin/sh
# Polls each operator's latestAvailableRevision against its node's currentRevision until they agree, as the
# seed's post-restore steps do. Arguments: operator resources (etcd, kubeapiserver, ...); KUBECONFIG is set.
# ${1:-} and ${2:-}: the function copy in upgrade-recovery.sh runs under set -u, and oc may print nothing.
# upgrade-recovery.sh carries the same loop as its wait_for_revisions function.
for op in "$@"; do
  # shellcheck disable=SC2046 # split on purpose: the two revisions become $1 and $2
  until set -- $(oc get "$op" cluster -o jsonpath="{.status.latestAvailableRevision} {.status.nodeStatuses[0].currentRevision}") && [ -n "${1:-}" ] && [ "$1" = "${2:-}" ]; do sleep 5; done
  echo "$op: revision $1 rolled out"
done
