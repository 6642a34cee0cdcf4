// How the workflow code is bundled: one place for the worker, the tests and the replay check, so all
// three run the same bundle.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BundleOptions } from '@temporalio/worker';

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
