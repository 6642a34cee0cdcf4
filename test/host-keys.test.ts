// Host keys are pinned for every path that opens SSH: the command runner, both ends of a streaming pipe
// and host facts. A host presenting a key other than the pinned one (another host's key, or a key never
// seen) is refused with HostKeyMismatch, non-retryable, before any command runs. Figures: n/n refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { AuditStore } from '../activities/runbook/audit-store.js';
import { makeRunCommand } from '../activities/ssh/command.js';
import { makeHostFacts } from '../activities/ssh/host-facts.js';
import { makePipeCommands } from '../activities/ssh/pipe.js';
import { SshPool } from '../activities/ssh/ssh.js';
import { loadWorkerConfig } from '../workers/config.js';
import { loadInventory, type Inventory } from '../workers/inventory.js';
import { remote } from '../workflows/engine/commands.js';
import { onHost, scratchDir, uniqueId } from './harness.js';

const TARGET = 'hypervisor';

/** The inventory with TARGET's pinned key replaced. */
function pinning(hostKey: string): Inventory {
  const inv = loadInventory(process.env.RUNBOOK_INVENTORY);
  return { ...inv, hosts: { ...inv.hosts, [TARGET]: { ...inv.hosts[TARGET]!, hostKey } } };
}

function freshKey(type = 'ed25519'): string {
  const dir = scratchDir('hostkey');
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'never-seen', '-f', join(dir, 'k')]);
  return readFileSync(join(dir, 'k.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
}

test('a changed or unknown host key is refused, non-retryable, on every SSH path; nothing runs', async () => {
  const real = loadInventory(process.env.RUNBOOK_INVENTORY);
  const marker = `/tmp/hostkey-${uniqueId('m')}`;
  const keys = {
    "another host's key": real.hosts['cloud-client']!.hostKey,
    'a key never seen': freshKey(),
    'a key of a type the host lacks (ecdsa)': freshKey('ecdsa'),
  };
  let tried = 0;
  let refused = 0;
  for (const [what, key] of Object.entries(keys)) {
    const inventory = pinning(key);
    const ssh = new SshPool(inventory);
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: uniqueId('hostkey'), runId: 'run-1' }, heartbeatTimeoutMs: 20_000 });
    const paths: [string, () => Promise<unknown>][] = [
      [
        'runCommand',
        () =>
          env.run(makeRunCommand(ssh, new AuditStore(scratchDir('hk-audit'))), {
            command: remote(TARGET, ['touch', marker]),
            runKey: 'k1',
            once: true,
            step: 'touch',
          }),
      ],
      [
        'pipe source',
        () =>
          env.run(makePipeCommands(ssh, loadWorkerConfig()), {
            from: remote(TARGET, ['sh', '-c', `touch ${marker}; echo x`]),
            to: remote('backup-store', ['cat']),
            step: 'pipe',
          }),
      ],
      [
        'pipe destination',
        () =>
          env.run(makePipeCommands(ssh, loadWorkerConfig()), {
            from: remote('backup-store', ['echo', 'x']),
            to: remote(TARGET, ['sh', '-c', `cat > ${marker}`]),
            step: 'pipe',
          }),
      ],
      ['hostFacts', () => env.run(makeHostFacts(ssh), { host: TARGET })],
    ];
    try {
      for (const [path, run] of paths) {
        tried++;
        await assert.rejects(run(), (err: unknown) => {
          const f = err instanceof ApplicationFailure ? err : (err as { cause?: unknown }).cause;
          assert.ok(f instanceof ApplicationFailure, `${what}, ${path}: ${String(err)}`);
          assert.equal(f.type, 'HostKeyMismatch', `${what}, ${path}: ${f.message}`);
          assert.equal(f.nonRetryable, true, `${what}, ${path}: non-retryable`);
          return true;
        });
        refused++;
      }
    } finally {
      ssh.closeAll();
    }
  }
  assert.equal(onHost(real, TARGET, `test -e ${marker} && echo ran || echo absent`).trim(), 'absent', 'no command ran on the host');
  console.log(
    `host-keys: ${refused}/${tried} refused as HostKeyMismatch, non-retryable (runCommand, pipe source, pipe destination, hostFacts × another host's key, a key never seen, a key type the host lacks)`,
  );
  assert.equal(refused, tried);
});
