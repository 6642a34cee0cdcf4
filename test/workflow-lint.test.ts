// The lint rule that keeps workflows/ deterministic: the real workflow code passes it, and each kind of
// forbidden import or global is caught when planted in a workflow file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: process.cwd() });

test('the project (workflows, activities, workers, scripts, tests) lints clean', async () => {
  const results = await eslint.lintFiles(['workflows', 'activities', 'workers', 'scripts', 'test']);
  const errors = results.flatMap((r) => r.messages.filter((m) => m.severity === 2).map((m) => `${r.filePath}:${m.line} ${m.message}`));
  assert.deepEqual(errors, []);
  assert.ok(results.filter((r) => r.filePath.includes('/workflows/')).length >= 8, 'workflow files were linted');
});

test('forbidden imports and globals in workflows/ are refused', async () => {
  const planted: [string, RegExp][] = [
    [`import { readFileSync } from 'node:fs';\nexport const x = readFileSync;`, /Node built-ins/],
    [`import { createHash } from 'crypto';\nexport const x = createHash;`, /Node built-ins/],
    [`import { Client } from 'ssh2';\nexport const x = Client;`, /side effects belong in activities/],
    [`import { execa } from 'execa';\nexport const x = execa;`, /side effects belong in activities/],
    [`import { makeRunCommand } from '../activities/ssh/command.js';\nexport const x = makeRunCommand;`, /TYPES only/],
    [`export const x = process.env.HOME;`, /no environment in workflow code/],
  ];
  for (const [code, why] of planted) {
    const [r] = await eslint.lintText(code, { filePath: 'workflows/planted.ts' });
    assert.ok(
      r!.messages.some((m) => why.test(m.message)),
      `${code} → ${r!.messages.map((m) => m.message).join(' | ')}`,
    );
  }
  const [ok] = await eslint.lintText(`import type { RunbookActivities } from '../activities/index.js';\nexport type X = RunbookActivities;`, {
    filePath: 'workflows/planted.ts',
  });
  assert.deepEqual(ok!.messages, [], 'type-only imports of activities are allowed');
});
