// The real Temporal server for development and tests: `temporal server start-dev` from the project's own
// install of the CLI (.data/tools/bin/temporal), state in a SQLite file so runs survive restarts, the
// project's search attributes registered at every start.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SearchAttributeType } from '@temporalio/common';
import { DEFAULT_LOCK_NAMESPACE } from '../workers/config.js';
import { runbookSearchAttributes } from '../workflows/engine/search-attributes.js';

export const temporalCli = resolve(process.env.TEMPORAL_CLI ?? '.data/tools/bin/temporal');

export interface DevServerOptions {
  dbFile: string;
  ip: string;
  port: number;
  uiPort: number;
  logFile: string;
  /** A codec server for the Web UI (`--ui-codec-endpoint`): it decodes encrypted payloads and encodes what the UI sends. */
  uiCodecEndpoint?: string;
}

export const defaultDevServer: DevServerOptions = {
  dbFile: resolve('.data/temporal/dev.sqlite'),
  ip: '127.0.0.1',
  port: 7233,
  uiPort: 8233,
  logFile: resolve('.data/temporal/server.log'),
};

const cliType: Partial<Record<SearchAttributeType, string>> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.DOUBLE]: 'Double',
};

export function devServerArgs(o: DevServerOptions): string[] {
  return [
    'server',
    'start-dev',
    '--db-filename',
    o.dbFile,
    '--ip',
    o.ip,
    '--port',
    String(o.port),
    '--ui-port',
    String(o.uiPort),
    '--log-format',
    'json',
    '--log-level',
    'warn',
    // SQLite's default rollback journal fsyncs several times per commit, and the dev server commits for
    // every event batch: WAL is faster under many runs (scale bench, 150 runs approved at once: done in
    // 4.1 s instead of 6.3 s). WAL with synchronous=normal loses nothing when the server process is
    // killed (the chaos tests do that); only an OS crash may lose the last commits.
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    // The CLI's dev server turns the search-attribute cache off unless this is given, so that attributes
    // created while it runs are usable at once: every upsert then re-reads them from SQLite. That cost
    // ~50 ms of each status change under load (scale bench, 300 approvals: approval → next step p50 53 ms,
    // p95 174 ms; with the cache on, as on any real cluster, 0 and 12 ms). Ours are registered at start
    // (startDevServer restarts the server when it had to add one).
    '--dynamic-config-value',
    'system.forceSearchAttributesCacheRefreshOnRead=false',
    ...(o.uiCodecEndpoint ? ['--ui-codec-endpoint', o.uiCodecEndpoint] : []),
    // The host-lease locks' own namespace (workers/config.ts lockNamespace), created if the file lacks it.
    '--namespace',
    process.env.RUNBOOK_LOCK_NAMESPACE ?? DEFAULT_LOCK_NAMESPACE,
    ...runbookSearchAttributes.flatMap((k) => ['--search-attribute', `${k.name}=${cliType[k.type]}`]),
  ];
}

export function isServing(o: Pick<DevServerOptions, 'ip' | 'port'>): boolean {
  try {
    execFileSync(temporalCli, ['operator', 'cluster', 'health', '--address', `${o.ip}:${o.port}`], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** Starts the dev server and waits until it answers; the caller owns the returned process. */
export async function startDevServer(o: DevServerOptions = defaultDevServer): Promise<ChildProcess> {
  if (!existsSync(temporalCli)) throw new Error(`${temporalCli} is missing: run scripts/setup.sh`);
  mkdirSync(dirname(o.dbFile), { recursive: true });
  mkdirSync(dirname(o.logFile), { recursive: true });
  const child = await spawnDevServer(o);
  if (!ensureSearchAttributes(`${o.ip}:${o.port}`)) return child;
  // Added to an older database: a restart loads them into the server's search-attribute cache.
  await stopDevServer(child);
  return spawnDevServer(o);
}

async function spawnDevServer(o: DevServerOptions): Promise<ChildProcess> {
  const log = openSync(o.logFile, 'a');
  const child = spawn(temporalCli, devServerArgs(o), { stdio: ['ignore', log, log] });
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? -1));
  const deadline = Date.now() + 60_000;
  while (!isServing(o)) {
    if (exited !== null) throw new Error(`temporal dev server exited with ${exited}; see ${o.logFile}`);
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`temporal dev server did not answer on ${o.ip}:${o.port} within 60 s; see ${o.logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return child;
}

/**
 * `--search-attribute` registers attributes only when the SQLite file is new; a file from an older version
 * lacks the newer ones (RunbookPhase), and a run upserting an unknown attribute fails its workflow task.
 * Creates the missing ones; true when it had to.
 */
export function ensureSearchAttributes(address: string): boolean {
  const listed = JSON.parse(
    execFileSync(temporalCli, ['operator', 'search-attribute', 'list', '--address', address, '-o', 'json'], { encoding: 'utf8', timeout: 30_000 }),
  ) as { customAttributes?: Record<string, string> };
  const missing = runbookSearchAttributes.filter((k) => !(k.name in (listed.customAttributes ?? {})));
  if (missing.length === 0) return false;
  execFileSync(
    temporalCli,
    ['operator', 'search-attribute', 'create', '--address', address, ...missing.flatMap((k) => ['--name', k.name, '--type', cliType[k.type]!])],
    { stdio: 'ignore', timeout: 30_000 },
  );
  return true;
}

export async function stopDevServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await gone;
  clearTimeout(t);
}

export const temporalCliDir = join(dirname(temporalCli));
