// How the workflow code is bundled: one place for the worker, the tests and the replay check, so all
// three run the same bundle. The bundle's content also names the worker's build (Worker Versioning).
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, type BundleOptions, type WorkerDeploymentOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

const workflowsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'workflows');

export const workflowsPath = join(workflowsDir, 'index.js');

export const bundlerOptions = {
  // Shared between runs: evaluated once, not per run (workflows/shared-libraries.ts says why).
  preloadModules: [join(workflowsDir, 'shared-libraries.js')],
  // workflows/index.ts loads each runbook with import(): inline them all in the one bundle.
  webpackConfigHook: (config) => {
    config.module ??= {};
    config.module.parser ??= {};
    config.module.parser.javascript = { ...config.module.parser.javascript, dynamicImportMode: 'eager' };
    // Host scripts (workflows/<family>/scripts/*.sh, *.py) are part of the workflow code, as their text.
    config.module.rules = [...(config.module.rules ?? []), { test: /\.(sh|py)$/, type: 'asset/source' }];
    return config;
  },
} satisfies Pick<BundleOptions, 'preloadModules' | 'webpackConfigHook'>;

/** The workflow bundle (a variant's entry module for tests; default: workflows/index.js). */
export function bundleWorkflows(entry = workflowsPath): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: entry, ...bundlerOptions, logger: new DefaultLogger('WARN') });
}

/**
 * The build id of a bundle: its code's hash, so the same workflow code always gets the same id (a
 * restarted or added worker joins its version) and any change to a procedure, the engine or a host
 * script gets a new one (it cannot take over runs pinned to the old code).
 */
export function buildIdOf(bundle: Pick<WorkflowBundleWithSourceMap, 'code'>): string {
  return `wf-${createHash('sha256').update(bundle.code).digest('hex').slice(0, 12)}`;
}

/**
 * Worker Versioning for a worker running this bundle. PINNED by default: a run stays on the code it
 * started with, whatever is deployed later; runbooks that declare `versioning: 'auto-upgrade'` (and the
 * host-lease locks) move to the current build at their next task.
 */
export function deploymentOptions(deploymentName: string, bundle: Pick<WorkflowBundleWithSourceMap, 'code'>): WorkerDeploymentOptions {
  return { useWorkerVersioning: true, version: { deploymentName, buildId: buildIdOf(bundle) }, defaultVersioningBehavior: 'PINNED' };
}
