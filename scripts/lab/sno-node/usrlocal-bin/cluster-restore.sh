#!/bin/sh
# Lab stand-in for cluster-etcd-operator's cluster-restore.sh: stops the etcd "pod", restores the
# snapshot into a fresh data dir with `etcdctl snapshot restore` (the old one is kept aside), restores
# the static pod resources; kubelet starts etcd again when it runs.
set -eu
DIR=${1:?usage: cluster-restore.sh BACKUP_DIR}
echo "$(date -u +%FT%TZ) cluster-restore.sh $*" >> /var/log/lab-calls.log
# Fault injection for the tests: fail once when asked to.
if [ -e /var/lib/lab-faults/cluster-restore ]; then rm -f /var/lib/lab-faults/cluster-restore; echo "lab fault: cluster-restore.sh fails once" >&2; exit 1; fi
. /etc/kubernetes/lab-etcd.env
snap=$(ls "$DIR"/snapshot_*.db | tail -1); res=$(ls "$DIR"/static_kuberesources_*.tar.gz | tail -1)
/usr/local/bin/crictl lab-stop-pods
rm -rf /var/lib/etcd-restore
ETCDCTL_API=3 etcdctl snapshot restore "$snap" --name sno-node --data-dir /var/lib/etcd-restore \
  --initial-cluster "sno-node=http://$NODE_IP:2380" --initial-advertise-peer-urls "http://$NODE_IP:2380"
[ -d /var/lib/etcd ] && mv /var/lib/etcd "/var/lib/etcd-backup-$(date -u +%s)"
mv /var/lib/etcd-restore /var/lib/etcd
tar -C /etc/kubernetes -xzf "$res"
echo "restored $snap"
