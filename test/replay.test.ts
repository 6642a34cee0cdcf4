// Every recorded history replays against the current workflow code without non-determinism. A change
// that would break a run in flight (reordered steps, a new activity before an old one) fails here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { workflowsPath } from '../workers/runbook-worker.js';
import { historiesDir, workflowIdOf } from './history-files.js';

test('recorded histories replay against the current code', async () => {
  const files = readdirSync(historiesDir).filter((f) => f.endsWith('.json')).sort();
  assert.ok(files.length >= 2, `expected recorded histories in ${historiesDir}`);
  const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  for (const f of files) {
    const history = JSON.parse(readFileSync(join(historiesDir, f), 'utf8'));
    await Worker.runReplayHistory({ workflowBundle }, history, workflowIdOf(f));
  }
});
