// Every workflow type the worker registers. The exported name is the workflow type (a contract).
import { setWorkflowOptions } from '@temporalio/workflow';
import { versioningBehaviorOf, type RunbookVersioning } from './engine/versioning.js';
//
// Each runbook's module is loaded only when a run of that runbook starts. The SDK's reusable V8 context
// evaluates workflow modules once per run (module state belongs to the run), so a plain `export … from`
// list made every cached run evaluate, and keep, all the runbooks with their zod schemas: about 1.9 MiB
// per run, the bulk of a worker's memory with hundreds of runs parked at gates (bench/scale.ts). The
// bundler inlines these imports (workers/workflow-bundle.ts sets webpack's dynamic import mode to
// "eager"): no chunk is fetched, the promise is already resolved, and only the module's evaluation is
// deferred. Deterministic: nothing is scheduled before it, and updates that arrive with the start are
// buffered until the handlers exist (the SDK drains every microtask before it concludes an activation).

//
// Worker Versioning: the SDK reads a workflow's versioning behavior from the exported function before the
// run starts, so before the module is loaded. Each line below therefore states the runbook's
// `versioning` again (default pinned); test/unit/versioning.test.ts loads every module and checks that
// the two agree.

/** A workflow whose module is evaluated when a run of it starts; same signature as the loaded one. */
function onDemand<A extends unknown[], R>(
  load: () => Promise<(...args: A) => Promise<R>>,
  versioning?: RunbookVersioning,
): ((...args: A) => Promise<R>) & { load: typeof load } {
  const fn = Object.assign(async (...args: A) => (await load())(...args), { load });
  setWorkflowOptions({ versioningBehavior: versioningBehaviorOf(versioning) }, fn);
  return fn;
}

export const hostFacts = onDemand(async () => (await import('./lab/host-facts.js')).hostFacts, 'auto-upgrade');
export const labDrill = onDemand(async () => (await import('./lab/lab-drill.js')).labDrill);
export const lavaMasterBackup = onDemand(async () => (await import('./lava/master-backup.js')).lavaMasterBackup);
export const lavaWorkerBackup = onDemand(async () => (await import('./lava/worker-backup.js')).lavaWorkerBackup);
export const lavaBackupVerify = onDemand(async () => (await import('./lava/backup-verify.js')).lavaBackupVerify, 'auto-upgrade');
export const lavaMasterRestore = onDemand(async () => (await import('./lava/master-restore.js')).lavaMasterRestore);
export const lavaWorkerRestore = onDemand(async () => (await import('./lava/worker-restore.js')).lavaWorkerRestore);
export const openstackSnapshot = onDemand(async () => (await import('./openstack/snapshot.js')).openstackSnapshot);
export const openstackRollback = onDemand(async () => (await import('./openstack/rollback.js')).openstackRollback);
export const openstackClone = onDemand(async () => (await import('./openstack/clone.js')).openstackClone);
export const openstackMove = onDemand(async () => (await import('./openstack/move.js')).openstackMove);
export const openstackRename = onDemand(async () => (await import('./openstack/rename.js')).openstackRename);
export const snoPreUpgradeBackup = onDemand(async () => (await import('./sno/pre-upgrade-backup.js')).snoPreUpgradeBackup);
export const snoUpgradeRecovery = onDemand(async () => (await import('./sno/upgrade-recovery.js')).snoUpgradeRecovery);
export const rearPrepareStore = onDemand(async () => (await import('./rear/prepare-store.js')).rearPrepareStore);
export const rearControllerRecovery = onDemand(async () => (await import('./rear/controller-recovery.js')).rearControllerRecovery);
export const rearBackup = onDemand(async () => (await import('./rear/backup.js')).rearBackup);
export const rearRecoveryDrill = onDemand(async () => (await import('./rear/recovery-drill.js')).rearRecoveryDrill);

/**
 * The lease keeper of one host (a long-lived workflow the runbooks signal), not a runbook. It lives for
 * ever (continue-as-new), so it moves to each new build: changes to it need `patched()`.
 */
// The locks run on their own task queue, served unversioned by every worker (workers/runbook-worker.ts): a
// lock lives on through continue-as-new across deployments, so it declares no versioning behavior (an
// unversioned worker refuses one) and its changes need patched().
export const hostLease = async (start: Parameters<typeof import('./engine/host-lease.js').hostLease>[0]): Promise<void> =>
  (await import('./engine/host-lease.js')).hostLease(start);
