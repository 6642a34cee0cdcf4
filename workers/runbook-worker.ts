// Builds the runbooks worker. Used by the worker process and by tests, so both run the same thing.
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import type { WorkerConfig } from './config.js';
import type { Inventory } from './inventory.js';
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
}): Promise<{ worker: Worker; close: () => void; version: { deploymentName: string; buildId: string } }> {
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
  return { worker, close, version: versioning.version };
}
