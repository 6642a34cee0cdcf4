// Every workflow type the worker registers. The exported name is the workflow type (a contract).
export { hostFacts } from './host-facts.js';
export { labDrill } from './lab-drill.js';
export { hostLease } from './host-lease.js';
export { lavaMasterBackup } from './lava-master-backup.js';
export { lavaWorkerBackup } from './lava-worker-backup.js';
export { lavaBackupVerify } from './lava-backup-verify.js';
export { lavaMasterRestore } from './lava-master-restore.js';
export { lavaWorkerRestore } from './lava-worker-restore.js';
export { openstackSnapshot } from './openstack-snapshot.js';
export { openstackRollback } from './openstack-rollback.js';
export { openstackClone } from './openstack-clone.js';
export { openstackMove } from './openstack-move.js';
export { openstackRename } from './openstack-rename.js';
export { snoPreUpgradeBackup } from './sno-pre-upgrade-backup.js';
export { snoUpgradeRecovery } from './sno-upgrade-recovery.js';
export { rearPrepareStore } from './rear-prepare-store.js';
export { rearControllerRecovery } from './rear-controller-recovery.js';
