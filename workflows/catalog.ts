// Every runbook a person can start, with its input schema's builder: the CLI validates with these before
// starting (the workflow validates again, with a schema from the same builder).
import type { z } from 'zod';
import { HostFactsInput } from './lab/host-facts.js';
import { LabDrillInput } from './lab/lab-drill.js';
import { LavaBackupVerifyInput } from './lava/backup-verify.js';
import { LavaMasterBackupInput } from './lava/master-backup.js';
import { LavaMasterRestoreInput } from './lava/master-restore.js';
import { LavaWorkerBackupInput } from './lava/worker-backup.js';
import { LavaWorkerRestoreInput } from './lava/worker-restore.js';
import { OpenstackCloneInput } from './openstack/clone.js';
import { OpenstackMoveInput } from './openstack/move.js';
import { OpenstackRenameInput } from './openstack/rename.js';
import { OpenstackRollbackInput } from './openstack/rollback.js';
import { OpenstackSnapshotInput } from './openstack/snapshot.js';
import { RearControllerRecoveryInput } from './rear/controller-recovery.js';
import { RearBackupInput } from './rear/backup.js';
import { RearPrepareStoreInput } from './rear/prepare-store.js';
import { RearRecoveryDrillInput } from './rear/recovery-drill.js';
import { SnoPreUpgradeBackupInput } from './sno/pre-upgrade-backup.js';
import { SnoUpgradeRecoveryInput } from './sno/upgrade-recovery.js';

export const runbookInputs: Record<string, () => z.ZodType> = {
  hostFacts: HostFactsInput,
  labDrill: LabDrillInput,
  lavaMasterBackup: LavaMasterBackupInput,
  lavaWorkerBackup: LavaWorkerBackupInput,
  lavaBackupVerify: LavaBackupVerifyInput,
  lavaMasterRestore: LavaMasterRestoreInput,
  lavaWorkerRestore: LavaWorkerRestoreInput,
  openstackSnapshot: OpenstackSnapshotInput,
  openstackRollback: OpenstackRollbackInput,
  openstackClone: OpenstackCloneInput,
  openstackMove: OpenstackMoveInput,
  openstackRename: OpenstackRenameInput,
  snoPreUpgradeBackup: SnoPreUpgradeBackupInput,
  snoUpgradeRecovery: SnoUpgradeRecoveryInput,
  rearPrepareStore: RearPrepareStoreInput,
  rearControllerRecovery: RearControllerRecoveryInput,
  rearBackup: RearBackupInput,
  rearRecoveryDrill: RearRecoveryDrillInput,
};
