// Builds the runbooks worker. Used by the worker process and by tests, so both run the same thing.
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import type { WorkerConfig } from './config.js';
import type { Inventory } from './inventory.js';
import { LOCK_TASK_QUEUE } from '../workflows/engine/host-lease.js';
import { dataConverter } from './payload-codec.js';
import { bundleWorkflows, deploymentOptions } from './workflow-bundle.js';

export async function createRunbookWorker(opts: {
  connection: NativeConnection;
  namespace: string;
  config: WorkerConfig;
  inventory: Inventory;
  client: () => Client;
  bundle?: WorkflowBundleWithSourceMap;
  identity?: string;
  /** The Worker Deployment this build joins; default: the task queue's name. */
  deploymentName?: string;
  /** Payload codec etc.; default: the one configured in the environment (workers/payload-codec.ts). Pass `{}` for none. */
  dataConverter?: DataConverter;
}): Promise<{ worker: RunbookWorker; close: () => void; version: { deploymentName: string; buildId: string } }> {
  const { activities, close } = createActivities({ inventory: opts.inventory, config: opts.config, client: opts.client, namespace: opts.namespace });
  // Must be the same converter the clients use. The codec runs in the main thread, also with a prebuilt bundle.
  const converter = opts.dataConverter ?? dataConverter();
  // Bundled here even for the worker process: the build id is the bundle's hash (workers/workflow-bundle.ts).
  const bundle = opts.bundle ?? (await bundleWorkflows());
  const versioning = deploymentOptions(opts.deploymentName ?? opts.config.taskQueue, bundle);
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.config.taskQueue,
    workflowBundle: bundle,
    workerDeploymentOptions: versioning,
    activities,
    ...(converter ? { dataConverter: converter } : {}),
    ...(opts.identity ? { identity: opts.identity } : {}),
    // Bounded per host by the SSH pool (the inventory's maxSessions × maxConnections), not here; scale
    // by adding workers.
    maxConcurrentActivityTaskExecutions: opts.config.maxConcurrentActivities,
    ...(opts.config.maxCachedWorkflows ? { maxCachedWorkflows: opts.config.maxCachedWorkflows } : {}),
    shutdownGraceTime: '10 seconds',
    // Cancellation reaches an activity only with a heartbeat response: keep that under a few seconds so
    // "cancel" on a long remote command stops it promptly rather than after 80% of the heartbeat timeout.
    maxHeartbeatThrottleInterval: '2 seconds',
  });
  const locks = [await createLockWorker({ ...opts, bundle, namespace: opts.config.lockNamespace }, activities)];
  // Locks started before they had a namespace of their own live on in the runbooks' (until idle).
  if (opts.config.lockNamespace !== opts.namespace) locks.push(await createLockWorker({ ...opts, bundle }, activities));
  return { worker: new RunbookWorker(worker, locks), close, version: versioning.version };
}

/**
 * Every worker also serves the lock workflows' internal task queue, so a lock never depends on the worker
 * that started it. No payload codec (lock payloads are plain JSON for every worker, see host-lease.ts), and
 * not versioned with the runbooks: a lock lives on through continue-as-new across deployments.
 */
async function createLockWorker(
  opts: { connection: NativeConnection; namespace: string; bundle: WorkflowBundleWithSourceMap; identity?: string },
  activities: object,
): Promise<Worker> {
  const worker = Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: LOCK_TASK_QUEUE,
    workflowBundle: opts.bundle,
    activities,
    dataConverter: {},
    ...(opts.identity ? { identity: `${opts.identity} (locks)` } : {}),
    maxConcurrentActivityTaskExecutions: 20,
    shutdownGraceTime: '10 seconds',
  });
  return await worker.catch((err: Error) => {
    if (!/namespace/i.test(err.message)) throw err;
    throw new Error(
      `the lock namespace ${opts.namespace} cannot be served (${err.message}); create it: temporal operator namespace create --namespace ${opts.namespace}`,
    );
  });
}

/** The runbooks worker and its lock workers, run and stopped together (the calls callers make on a Worker). */
export class RunbookWorker {
  constructor(
    readonly runbooks: Worker,
    readonly locks: Worker[],
  ) {}

  private get all(): Worker[] {
    return [this.runbooks, ...this.locks];
  }

  async run(): Promise<void> {
    const stopAll = (): void => this.shutdown();
    await Promise.all(this.all.map((w) => w.run().finally(stopAll)));
  }

  async runUntil<R>(until: Promise<R> | (() => Promise<R>)): Promise<R> {
    let running: Promise<R> = this.runbooks.runUntil(until);
    for (const l of this.locks) running = l.runUntil(running);
    return await running;
  }

  getState(): ReturnType<Worker['getState']> {
    return this.runbooks.getState();
  }

  shutdown(): void {
    for (const w of this.all) if (w.getState() === 'RUNNING') w.shutdown();
  }
}
