// The worker process: task queue `runbooks`, connection from envconfig, JSON-lines logs on stdout,
// Prometheus metrics on 127.0.0.1:<metricsPort>, graceful shutdown on SIGINT/SIGTERM.
import { Client } from '@temporalio/client';
import { DefaultLogger, makeTelemetryFilterString, Runtime, type LogEntry } from '@temporalio/worker';
import { ConfigError, loadWorkerConfig } from './config.js';
import { connectClient, connectWorker } from './connection.js';
import { promoteOnStart } from './deployment.js';
import { InventoryError, loadInventory } from './inventory.js';
import { createRunbookWorker } from './runbook-worker.js';

function jsonLine(e: LogEntry): void {
  const line = {
    time: new Date(Number(e.timestampNanos / 1_000_000n)).toISOString(),
    level: e.level,
    msg: e.message,
    ...e.meta,
  };
  process.stdout.write(JSON.stringify(line, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

async function main(): Promise<void> {
  let config, inventory;
  try {
    config = loadWorkerConfig();
    inventory = loadInventory(process.env.RUNBOOK_INVENTORY);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof InventoryError) {
      console.error(`worker refuses to start: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  Runtime.install({
    logger: new DefaultLogger((process.env.RUNBOOK_LOG_LEVEL as 'INFO') ?? 'INFO', jsonLine),
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }) },
      metrics: config.metricsPort ? { prometheus: { bindAddress: `127.0.0.1:${config.metricsPort}` } } : undefined,
    },
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });
  const { connection, namespace } = await connectWorker();
  const client: Client = await connectClient();
  const { worker, close, version } = await createRunbookWorker({ connection, namespace, config, inventory, client: () => client });
  jsonLine({
    level: 'INFO',
    message: 'worker started',
    timestampNanos: BigInt(Date.now()) * 1_000_000n,
    meta: {
      taskQueue: config.taskQueue,
      namespace,
      hosts: Object.keys(inventory.hosts),
      metrics: config.metricsPort ? `http://127.0.0.1:${config.metricsPort}/metrics` : 'off',
      config: config.path,
      deployment: version.deploymentName,
      buildId: version.buildId,
    },
  });
  // RUNBOOK_PROMOTE=always (npm start: one developer worker) makes every build current at once; by default
  // only a deployment's first build does, later ones wait for `runbook rollout promote`.
  const promoting = promoteOnStart(client, version, process.env.RUNBOOK_PROMOTE === 'always' ? 'always' : 'first').then(
    (r) =>
      jsonLine({ level: 'INFO', message: `build ${version.buildId}: ${r}`, timestampNanos: BigInt(Date.now()) * 1_000_000n, meta: { ...version, rollout: r } }),
    (err: Error) =>
      jsonLine({ level: 'WARN', message: `build ${version.buildId}: ${err.message}`, timestampNanos: BigInt(Date.now()) * 1_000_000n, meta: { ...version } }),
  );
  try {
    await worker.run(); // returns after SIGINT/SIGTERM once in-flight tasks finish or the grace time ends
    await promoting;
  } finally {
    close();
    await client.connection.close();
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
