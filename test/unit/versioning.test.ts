// Worker Versioning declarations and build ids, without a server: every workflow type exports the
// versioning behavior its runbook declares (workflows/index.ts restates it for the lazily loaded module),
// and a build id is a function of the bundle's code only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as workflows from '../../workflows/index.js';
import { versioningBehaviorOf } from '../../workflows/engine/versioning.js';
import { buildIdOf, deploymentOptions } from '../../workers/workflow-bundle.js';

type Exported = ((...a: unknown[]) => Promise<unknown>) & {
  load: () => Promise<{ workflowDefinitionOptions?: { versioningBehavior?: string } }>;
  workflowDefinitionOptions?: { versioningBehavior?: string };
};

const AUTO_UPGRADE = ['hostFacts', 'lavaBackupVerify'];

test('each workflow type exports the versioning behavior its runbook declares', async () => {
  const entries = Object.entries(workflows as unknown as Record<string, Exported>);
  assert.ok(entries.length >= 18, 'every runbook and the lease keeper');
  for (const [name, wf] of entries) {
    // The lease keeper runs on the unversioned lock queue: it must declare no behavior (the worker refuses one there).
    if (name === 'hostLease') {
      assert.equal(wf.workflowDefinitionOptions?.versioningBehavior, undefined, 'hostLease declares no versioning behavior');
      continue;
    }
    const exported = wf.workflowDefinitionOptions?.versioningBehavior;
    assert.equal(exported, AUTO_UPGRADE.includes(name) ? 'AUTO_UPGRADE' : 'PINNED', name);
    const loaded = await wf.load();
    assert.equal(loaded.workflowDefinitionOptions?.versioningBehavior, exported, `${name}: workflows/index.ts and the definition agree`);
  }
});

test('a runbook that declares nothing is pinned', () => {
  assert.equal(versioningBehaviorOf(undefined), 'PINNED');
  assert.equal(versioningBehaviorOf('pinned'), 'PINNED');
  assert.equal(versioningBehaviorOf('auto-upgrade'), 'AUTO_UPGRADE');
});

test('the build id is the hash of the bundle code: same code, same id; any change, a new one', () => {
  const a = buildIdOf({ code: 'export const labDrill = 1;' });
  assert.match(a, /^wf-[0-9a-f]{12}$/);
  assert.equal(buildIdOf({ code: 'export const labDrill = 1;' }), a);
  assert.notEqual(buildIdOf({ code: 'export const labDrill = 2;' }), a);
  assert.deepEqual(deploymentOptions('runbooks', { code: 'x' }), {
    useWorkerVersioning: true,
    version: { deploymentName: 'runbooks', buildId: buildIdOf({ code: 'x' }) },
    defaultVersioningBehavior: 'PINNED',
  });
});
