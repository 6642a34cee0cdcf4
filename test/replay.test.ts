// Every recorded history replays against the current workflow code without non-determinism. A change
// that would break a run in flight (reordered steps, a new activity before an old one) fails here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { bundlerOptions, workflowsPath } from '../workers/workflow-bundle.js';
import { historiesDir, workflowIdOf } from './history-files.js';

test('recorded histories replay against the current code', async (t) => {
  const files = readdirSync(historiesDir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  assert.ok(files.length >= 2, `expected recorded histories in ${historiesDir}`);
  const workflowBundle = await bundleWorkflowCode({ workflowsPath, ...bundlerOptions, logger: new DefaultLogger('WARN') });
  for (const f of files) {
    await t.test(f, async () => {
      const history = JSON.parse(readFileSync(join(historiesDir, f), 'utf8'));
      await Worker.runReplayHistory({ workflowBundle }, history, workflowIdOf(f));
    });
  }
});

test('a deliberate non-deterministic edit (a step inserted before the old ones) fails the replay', async () => {
  const file = readdirSync(historiesDir).find((f) => f.startsWith('labDrill-approved__'));
  assert.ok(file, 'the approved labDrill history is recorded');
  const history = JSON.parse(readFileSync(join(historiesDir, file), 'utf8'));
  const drifted = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('./fixtures/drifted-workflows.js', import.meta.url)),
    ...bundlerOptions,
    logger: new DefaultLogger('WARN'),
  });
  await assert.rejects(Worker.runReplayHistory({ workflowBundle: drifted }, history, workflowIdOf(file)), (err: Error) => {
    console.log(`replay: the drifted labDrill is refused: ${err.name}: ${err.message.split('\n')[0]}`);
    return err.name === 'DeterminismViolationError';
  });
});
