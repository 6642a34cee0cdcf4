#!/bin/sh
# Lab stand-in for cluster-etcd-operator's cluster-backup.sh: a real `etcdctl snapshot save` of the
# node's etcd plus the static pod resources, named as the real script names them.
set -eu
[ "${1:-}" = --force ] && shift
DIR=${1:?usage: cluster-backup.sh [--force] DIR}
echo "$(date -u +%FT%TZ) cluster-backup.sh $DIR" >> /var/log/lab-calls.log
# Fault injection for the tests: a slow etcd (sleep as many seconds as the file says, once).
if [ -e /var/lib/lab-faults/cluster-backup-slow ]; then s=$(cat /var/lib/lab-faults/cluster-backup-slow); rm -f /var/lib/lab-faults/cluster-backup-slow; sleep "$s"; fi
. /etc/kubernetes/lab-etcd.env
mkdir -p "$DIR"
ts=$(date -u +%Y-%m-%d_%H%M%S)
ETCDCTL_API=3 etcdctl --endpoints "http://$NODE_IP:2379" snapshot save "$DIR/snapshot_$ts.db"
tar -C /etc/kubernetes -czf "$DIR/static_kuberesources_$ts.tar.gz" static-pod-resources
echo "snapshot db and kube resources are successfully saved to $DIR"
