// What every test file on the lab's real LAVA master shares: the suite's env and lab, LAVA taken over for
// this lab, one worker (replaceable, e.g. by one with another config), commands on lab hosts, SQL as the
// lab PostgreSQL's superuser, and "wait until the run ends or parks".
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, afterEach, before } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { LabOptions } from '../scripts/lab/layout.js';
import { lavaUp } from '../scripts/lab/lava.js';
import type { RunbookView } from '../workflows/engine/messages.js';
import type { WorkerConfig } from '../workers/config.js';
import { onHost, status, testEnv, waitFor, type RunningWorker, type TestEnv } from './harness.js';

export interface LavaSuite {
  env: TestEnv;
  lab: LabOptions;
  /** Settles when env and lab are set (hooks of one file do not wait for each other's promises). */
  ready: Promise<void>;
  /** Stops this file's in-process worker (e.g. to let a worker process take over); replaceWorker() starts one. */
  stopWorker(): Promise<void>;
  /** Stops the worker and starts one with these config overrides (none: the default again). */
  replaceWorker(config?: Partial<WorkerConfig>): Promise<void>;
  store(script: string): string;
  master(script: string): string;
  /** SQL as the superuser of the lab PostgreSQL (an independent check, not the code under test). */
  sql(query: string, db?: string): string;
  /**
   * Signs a bundle's manifest.json on the store as the lab worker does (its key, its location set to the
   * bundle's path): for copies a test makes on purpose. Without it a copy is refused as unsigned or copied.
   */
  resign(bundle: string): void;
}

/** Registers the before/after hooks of a LAVA test file; the fields are usable inside tests. */
export function lavaSuite(): LavaSuite {
  let worker: RunningWorker | undefined;
  let isReady!: () => void;
  const s = {
    ready: new Promise<void>((resolve) => (isReady = resolve)),
    stopWorker: async () => {
      await worker?.stop();
      worker = undefined;
    },
    replaceWorker: async (config?: Partial<WorkerConfig>) => {
      await worker?.stop();
      worker = await s.env.startWorker({ config });
    },
    store: (script: string) => onHost(s.env.inventory, 'backup-store', script),
    master: (script: string) => onHost(s.env.inventory, 'lava-master', script),
    sql: (query: string, db = 'lavaserver') =>
      execFileSync('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(s.lab.pgPort), '-U', 'postgres', '-d', db, '-c', query], {
        encoding: 'utf8',
      }).trim(),
    resign: (bundle: string) => {
      const m = JSON.parse(s.store(`cat ${bundle}/manifest.json`)) as Record<string, unknown>;
      const text = `${JSON.stringify({ ...m, location: bundle }, null, 2)}\n`;
      const key = join(s.env.config.dataDir, 'keys', 'bundle-signing');
      const sig = execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-f', key, '-n', 'runbooks-backup'], { input: text, encoding: 'utf8' });
      s.store(`cat > ${bundle}/manifest.json <<'MANIFEST'\n${text}MANIFEST\ncat > ${bundle}/manifest.json.sig <<'SIG'\n${sig}SIG`);
    },
  } as LavaSuite;
  before(async () => {
    s.env = await testEnv();
    s.lab = JSON.parse(process.env.RUNBOOK_TEST_LAB!) as LabOptions;
    await lavaUp(s.lab); // installs nothing when installed; points the machine's LAVA at this lab's PostgreSQL
    worker = await s.env.startWorker();
    isReady();
  });
  // A test that fails while its run is parked must not leave a host leased to the next test.
  afterEach(async () => s.env?.endRuns());
  after(async () => {
    await worker?.stop();
    await s.env?.close();
  });
  return s;
}

/** Waits until the run has ended or parked (a parked step would wait for a human forever). */
export function settled(h: WorkflowHandle, timeoutMs = 300_000): Promise<RunbookView> {
  return waitFor(
    'the run to finish, fail or park',
    async () => {
      const v = await status(h);
      return ['Completed', 'Parked', 'Failed', 'Aborted'].includes(v.status) && v;
    },
    timeoutMs,
  );
}
