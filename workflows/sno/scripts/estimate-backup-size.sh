#!/bin/sh
# The pre-upgrade backup's size, as TALM estimates it (recovery/cmd/backup_size.go): static pod resources
# without bin/, the etcd database, /usr/local, /var/lib/kubelet and /etc; then the free bytes on the
# recovery filesystem ($1). One "<part> <bytes>" line each; the last one is "available <bytes>".
size() { if [ -e "$1" ]; then du -sb "$1" | cut -f1; else echo 0; fi; }
echo static-pod-resources $(( $(size /etc/kubernetes/static-pod-resources) - $(size /etc/kubernetes/static-pod-resources/bin) ))
echo etcd-db "$(size /var/lib/etcd/member/snap/db)"
echo usr-local "$(size /usr/local/)"
echo kubelet "$(size /var/lib/kubelet)"
echo etc "$(size /etc)"
echo available "$(df -B1 --output=avail "$1" | tail -n1)"
