// Workflow code must be deterministic: it may import @temporalio/workflow, @temporalio/common, zod,
// @noble/hashes, its own modules, and activity TYPES only. Node built-ins, I/O libraries and the
// activity implementations are refused here, before a replay ever finds out.
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

export const workflowRestrictedImports = {
  paths: [
    ...builtinModules.filter((m) => !m.startsWith('_')).map((name) => ({ name, message: 'Node built-ins are not deterministic; use an activity.' })),
    ...['ssh2', 'execa', 'yaml', '@temporalio/activity', '@temporalio/client', '@temporalio/worker', '@temporalio/envconfig'].map((name) => ({
      name,
      message: 'side effects belong in activities/ (or workers/), not in workflow code',
    })),
  ],
  patterns: [
    { group: ['node:*'], message: 'Node built-ins are not deterministic; use an activity.' },
    {
      group: ['../activities/**', '../workers/**', '../../activities/**', '../../workers/**'],
      allowTypeImports: true,
      message: 'workflows may import activity and worker TYPES only',
    },
  ],
};

export default tseslint.config(
  { ignores: ['build/**', 'node_modules/**', '.data/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', workflowRestrictedImports],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'no environment in workflow code: pass it in the input or read it in an activity' },
        { name: 'require', message: 'use import' },
        { name: 'fetch', message: 'network calls belong in activities' },
      ],
    },
  },
);
