// What every integration test file shares: a client to the real dev server started by scripts/test.ts,
// the real lab inventory, and workers built exactly like the production worker (one bundle per file).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { loadWorkerConfig, type WorkerConfig } from '../workers/config.js';
import { loadInventory, type Inventory } from '../workers/inventory.js';
import { createRunbookWorker, workflowsPath } from '../workers/runbook-worker.js';
import type { RunbookView } from '../workflows/messages.js';

let runtimeInstalled = false;

export interface TestEnv {
  client: Client;
  address: string;
  inventory: Inventory;
  inventoryPath: string;
  config: WorkerConfig;
  bundle: WorkflowBundleWithSourceMap;
  startWorker(over?: { inventory?: Inventory; config?: Partial<WorkerConfig> }): Promise<RunningWorker>;
  close(): Promise<void>;
}

export interface RunningWorker {
  stop(): Promise<void>;
}

export async function testEnv(): Promise<TestEnv> {
  const address = process.env.TEMPORAL_ADDRESS;
  const inventoryPath = process.env.RUNBOOK_INVENTORY;
  if (!address || !inventoryPath) throw new Error('run the suite with `npm test` (scripts/test.ts starts the dev server and lab)');
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  const inventory = loadInventory(inventoryPath);
  const config = loadWorkerConfig();
  const bundle = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  const workers = new Set<RunningWorker>();
  return {
    client,
    address,
    inventory,
    inventoryPath,
    config,
    bundle,
    async startWorker(over = {}) {
      const nc = await NativeConnection.connect({ address });
      const { worker, close } = await createRunbookWorker({
        connection: nc,
        namespace: 'default',
        config: { ...config, ...over.config },
        inventory: over.inventory ?? inventory,
        client: () => client,
        bundle,
      });
      const running = worker.run();
      const w: RunningWorker = {
        async stop() {
          workers.delete(w);
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await running.catch(() => undefined);
          close();
          await nc.close();
        },
      };
      workers.add(w);
      return w;
    },
    async close() {
      for (const w of [...workers]) await w.stop();
      await connection.close();
    },
  };
}

/** Polls a condition (bounded); tests wait on facts, never on fixed sleeps. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function status(h: WorkflowHandle): Promise<RunbookView> {
  return h.query<RunbookView>('status');
}

/** The failure message chain of a failed workflow, for assertions. */
export async function failureOf(h: WorkflowHandle): Promise<{ message: string; type?: string }> {
  try {
    await h.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause as { message: string; type?: string; cause?: { message: string; type?: string } };
      const deepest = cause?.cause ?? cause;
      return { message: `${cause?.message} ${cause?.cause?.message ?? ''}`, type: deepest?.type ?? cause?.type };
    }
    throw err;
  }
  throw new Error('workflow did not fail');
}

/** Runs a command on a lab host over real ssh (not through the code under test), as an independent check. */
export function onHost(inventory: Inventory, host: string, script: string): string {
  const h = inventory.hosts[host]!;
  return execFileSync(
    'ssh',
    [
      '-i', h.identityFile, '-p', String(h.port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', `${h.user}@${h.address}`, script,
    ],
    { encoding: 'utf8' },
  );
}

/** A fresh scratch directory under the suite's data dir. */
export function scratchDir(prefix: string): string {
  const root = process.env.RUNBOOK_DATA_DIR ?? '/tmp';
  mkdirSync(root, { recursive: true });
  return mkdtempSync(join(root, `${prefix}-`));
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}
