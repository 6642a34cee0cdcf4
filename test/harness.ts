// What every integration test file shares: a client to the real dev server started by scripts/test.ts,
// the real lab inventory, and workers built exactly like the production worker (one bundle per file).
import { onLabHost } from '../scripts/lab/lab-ssh.js';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { Client, Connection, WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { leaseLockId } from '../activities/runbook/admin.js';
import { labTrust, type LabTrust } from '../scripts/lab-trust.js';
import { loadWorkerConfig, type WorkerConfig } from '../workers/config.js';
import { promoteOnStart, type DeploymentVersion } from '../workers/deployment.js';
import { loadInventory, type Inventory } from '../workers/inventory.js';
import { createRunbookWorker } from '../workers/runbook-worker.js';
import { bundleWorkflows } from '../workers/workflow-bundle.js';
import type { RunbookView } from '../workflows/engine/messages.js';

let runtimeInstalled = false;
/** The suite's approval trust (scripts/lab-trust.ts): keys of alice, bob, carol, the codec server's, chat secret. */
export let trust: LabTrust;

export interface TestEnv {
  client: Client;
  /** The host-lease locks' namespace (plain payloads, like the locks). */
  locks: Client;
  address: string;
  inventory: Inventory;
  inventoryPath: string;
  config: WorkerConfig;
  bundle: WorkflowBundleWithSourceMap;
  /** `dataConverter`: this worker (and its activities' client) uses it, e.g. an encrypting codec; default none. */
  /**
   * A worker like the production one, Worker Versioning included: its build (the bundle's hash) becomes
   * current if its deployment has none (`promote: 'first'`, the worker's own rule), or always, or never.
   * `bundle`: another workflow bundle (a changed procedure); `config.taskQueue` also names the deployment.
   */
  startWorker(over?: {
    inventory?: Inventory;
    config?: Partial<WorkerConfig>;
    dataConverter?: DataConverter;
    bundle?: WorkflowBundleWithSourceMap;
    promote?: 'first' | 'always' | 'never';
  }): Promise<RunningWorker>;
  /** A client on the same connection with its own DataConverter (the default `client` has none). */
  clientWith(dataConverter: DataConverter): Client;
  /** Starts a runbook on the task queue and remembers it, so endRuns() can clean up after a failed test. */
  start(type: string, workflowId: string, input: unknown, opts?: { client?: Client; taskQueue?: string }): Promise<WorkflowHandle>;
  /** Terminates this file's runs that are still open and frees their host leases. */
  endRuns(): Promise<void>;
  close(): Promise<void>;
}

export interface RunningWorker {
  version: DeploymentVersion;
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
  // The older tests approve with plain names: their policy counts those, marked UNVERIFIED. The lab trust
  // is configured too, so a test can approve properly; test/approval-proofs.test.ts runs the default.
  // Written to a config file too, for the tests that run the production worker process (RUNBOOK_CONFIG).
  const dataDir = process.env.RUNBOOK_DATA_DIR ?? '.data/test/data';
  trust = labTrust(join(dataDir, 'lab-trust'));
  if (!process.env.RUNBOOK_TEST_CONFIG_WRITTEN) {
    const shipped = parseYaml(readFileSync(process.env.RUNBOOK_CONFIG ?? 'workers/runbooks.yaml', 'utf8')) as WorkerConfig;
    shipped.policies.default.allowUnverifiedApprovers = true;
    shipped.approvals = { allowedSigners: trust.allowedSigners, chat: { signingSecretFile: trust.chatSecretFile, users: trust.chatUsers } };
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, 'runbooks.test.yaml');
    writeFileSync(path, stringifyYaml(shipped));
    process.env.RUNBOOK_CONFIG = path;
    process.env.RUNBOOK_TEST_CONFIG_WRITTEN = '1';
  }
  const config = loadWorkerConfig();
  const locks = new Client({ connection, namespace: config.lockNamespace });
  const bundle = await bundleWorkflows();
  const clientWith = (dataConverter: DataConverter): Client => new Client({ connection, namespace: 'default', dataConverter });
  const workers = new Set<RunningWorker>();
  const runs: WorkflowHandle[] = [];
  const endRuns = async (): Promise<void> => {
    for (const h of runs.splice(0)) {
      const d = await h.describe().catch(() => undefined);
      if (d?.status.name !== 'RUNNING') continue;
      await h.terminate('test cleanup').catch(() => undefined);
      // By signal first: a lock answers queries only while some worker runs, but keeps signals for the next one.
      await releaseRun(locks, inventory, h.workflowId, d.runId);
      // A lock answers its query only while a worker runs: when the test stopped its worker, the query would
      // wait out the client's 30 s deadline per lock. The release signals above already went; the query only
      // finds holders of other runs of this id (resets), so all locks are asked at once, each for 3 s at most.
      await Promise.all(
        [...new Set(Object.keys(inventory.hosts).map((host) => leaseLockId(inventory, host)))].map((lock) =>
          connection.withDeadline(Date.now() + 3_000, () => releaseHeld(locks, lock, h.workflowId)),
        ),
      );
    }
  };

  return {
    client,
    locks,
    address,
    inventory,
    inventoryPath,
    config,
    bundle,
    clientWith,
    async startWorker(over = {}) {
      const nc = await NativeConnection.connect({ address });
      // Never the environment's codec (RUNBOOK_CODEC_*): a test asks for one explicitly.
      const activityClient = over.dataConverter ? clientWith(over.dataConverter) : client;
      const { worker, close, version } = await createRunbookWorker({
        connection: nc,
        namespace: 'default',
        config: { ...config, ...over.config },
        inventory: over.inventory ?? inventory,
        client: () => activityClient,
        bundle: over.bundle ?? bundle,
        dataConverter: over.dataConverter ?? {},
      });
      const running = worker.run();
      if ((over.promote ?? 'first') !== 'never') await promoteOnStart(client, version, over.promote === 'always' ? 'always' : 'first');
      const w: RunningWorker = {
        version,
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
    async start(type, workflowId, input, opts = {}) {
      const h = await (opts.client ?? client).workflow.start(type, { taskQueue: opts.taskQueue ?? 'runbooks', workflowId, args: [input] });
      runs.push(h);
      return h;
    },
    endRuns,
    async close() {
      await endRuns();
      for (const w of [...workers]) await w.stop();
      await connection.close();
    },
  };
}

/** Frees what a (terminated) run holds on a lock: only the holder's own workflow id and run id release it. */
/** Frees whatever a run (not reset: its original run id is its own) holds on any lab host's lock. */
export async function releaseRun(client: Client, inventory: Inventory, workflowId: string, originalRunId: string): Promise<void> {
  for (const lock of new Set(Object.keys(inventory.hosts).map((host) => leaseLockId(inventory, host))))
    await client.workflow
      .getHandle(lock)
      .signal('release', { workflowId, originalRunId })
      .catch(() => undefined);
}

export async function releaseHeld(client: Client, lock: string, workflowId: string): Promise<void> {
  const lease = await client.workflow
    .getHandle(lock)
    .query<{ holders?: { workflowId: string; originalRunId?: string }[]; waiters: { workflowId: string; originalRunId?: string }[] }>('lease')
    .catch(() => undefined);
  for (const x of [...(lease?.holders ?? []), ...(lease?.waiters ?? [])].filter((x) => x.workflowId === workflowId)) {
    await client.workflow
      .getHandle(lock)
      .signal('release', { workflowId, originalRunId: x.originalRunId })
      .catch(() => undefined);
  }
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

/** Expects an Update to be refused; returns the refusal's own message (the validator's or handler's). */
export async function refusedUpdate(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof WorkflowUpdateFailedError, `expected an Update refusal, got ${String(err)}`);
    return String((err.cause as Error | undefined)?.message ?? err.message);
  }
  assert.fail('the Update was accepted');
}

/** Runs a command on a lab host over real ssh (not through the code under test), as an independent check. */
export function onHost(inventory: Inventory, host: string, script: string): string {
  return onLabHost(inventory, host, script);
}

/** A fresh scratch directory under the suite's data dir. */
export function scratchDir(prefix: string): string {
  const root = process.env.RUNBOOK_DATA_DIR ?? '/tmp';
  mkdirSync(root, { recursive: true });
  return mkdtempSync(join(root, `${prefix}-`));
}

/**
 * Cuts every SSH link to a lab host the way a network failure would: SIGKILL to the sshd session
 * processes inside that host's namespaces (the listener stays, so new connections work).
 * Returns how many sessions were killed.
 */
export function dropSshSessions(host: string): number {
  const lab = JSON.parse(process.env.RUNBOOK_TEST_LAB ?? '{}') as { dir?: string };
  const listener = readFileSync(join(lab.dir ?? '', 'run', `${host}.pid`), 'utf8').trim();
  const out = execFileSync('sh', ['-c', DROP_SESSIONS, 'drop', listener], { encoding: 'utf8' });
  return Number(out.trim() || 0);
}

const DROP_SESSIONS = `
ns=$(readlink /proc/$1/ns/uts); n=0
for p in $(pgrep -f '^sshd: rbops'); do
  [ "$p" != "$1" ] && [ "$(readlink /proc/$p/ns/uts 2>/dev/null)" = "$ns" ] && kill -KILL "$p" 2>/dev/null && n=$((n+1))
done
echo $n`;

export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/**
 * The operator CLI (build/scripts/runbook.js) against the suite's dev server. Asynchronous on purpose: a
 * worker living in the test process must keep answering while the CLI runs.
 */
export function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['build/scripts/runbook.js', ...args], { env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `cli(...args, '--json')`, asserted to succeed, parsed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the CLI's JSON, shaped by each command
export async function cliJson(...args: string[]): Promise<any> {
  const r = await cli(...args, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** History as text with every payload decoded (payload data is bytes: JSON inside, or ciphertext). A plain
 * JSON.stringify of a history turns payload bytes into {"0":123,…} and would never show a secret. */
export function textOf(value: unknown, out: string[] = []): string[] {
  if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => textOf(v, out));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => textOf(v, out));
  return out;
}

/** A run's whole history as decoded text, for "this secret never entered history" assertions. */
export async function historyText(h: WorkflowHandle): Promise<string> {
  return textOf(await h.fetchHistory()).join('\n');
}

/** The run's result, approving (as `approver`) each of the named gates when it opens; any other gate fails the wait. */
export async function resultApproving(h: WorkflowHandle, gates: string[], approver = 'bob'): Promise<unknown> {
  let done = false;
  const result = h.result().finally(() => (done = true));
  const approved = new Set<string>();
  while (!done) {
    const v = await status(h).catch(() => undefined);
    const g = v?.openGate?.name;
    if (g && !approved.has(g)) {
      if (!gates.includes(g)) throw new Error(`unexpected gate ${g}`);
      approved.add(g);
      await h.executeUpdate('approve', { args: [{ gate: g, approver, reason: `test: ${g}` }] });
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 200))]);
  }
  return result;
}
