// Step overhead: what one runbook step costs end to end (workflow task → activity → SSH → host-side run
// key protocol → result in history), against a plain `ssh host true` with a fresh connection and over a
// reused ssh2 connection. Prints a table and writes bench/results/step-overhead.json. Not a test.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { SshPool } from '../activities/ssh.js';
import { defaultLabOptions, labDown, labUp } from '../scripts/lab/lab.js';
import { startDevServer, stopDevServer } from '../scripts/temporal-server.js';
import { loadWorkerConfig } from '../workers/config.js';
import { loadInventory } from '../workers/inventory.js';
import { createRunbookWorker } from '../workers/runbook-worker.js';
import type { RunbookResult } from '../workflows/runbook.js';

const STEPS = Number(process.env.BENCH_STEPS ?? 50);
const HOST = 'lava-worker';
const root = join(process.cwd(), '.data', 'bench');

function stats(ms: number[]): { n: number; median: number; p90: number; mean: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { n: s.length, median: at(0.5), p90: at(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = { dbFile: join(root, 'temporal.sqlite'), ip: '127.0.0.1', port: 7263, uiPort: 8263, logFile: join(root, 'temporal.log') };
  const lab = defaultLabOptions({ dir: join(root, 'lab'), addrBase: '127.0.60', pgPort: 5482 });
  mkdirSync(root, { recursive: true });
  const [dev, { inventoryPath }] = await Promise.all([startDevServer(server), labUp(lab)]);
  try {
    const inventory = loadInventory(inventoryPath);
    const h = inventory.hosts[HOST]!;
    const address = `${server.ip}:${server.port}`;
    const sshFresh: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      execFileSync('ssh', ['-i', h.identityFile, '-p', String(h.port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', `${h.user}@${h.address}`, 'true']);
      sshFresh.push(performance.now() - t);
    }
    const pool = new SshPool(inventory);
    await pool.exec(HOST, 'true', {});
    const sshReused: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await pool.exec(HOST, 'true', {});
      sshReused.push(performance.now() - t);
    }
    pool.closeAll();

    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    const nc = await NativeConnection.connect({ address });
    const config = { ...loadWorkerConfig(), dataDir: join(root, 'data') };
    const { worker, close } = await createRunbookWorker({ connection: nc, namespace: 'default', config, inventory, client: () => client });
    const wall: number[] = [];
    const perStep = await worker.runUntil(async () => {
      const res = (await client.workflow.execute('labDrill', {
        taskQueue: 'runbooks',
        workflowId: `bench-${Date.now()}`,
        args: [{ host: HOST, steps: STEPS, requestedBy: 'bench', dryRun: true }],
      })) as RunbookResult;
      // Wall time per step includes workflow tasks and activity scheduling: the difference of two runs.
      for (const n of [1, STEPS]) {
        const t = performance.now();
        await client.workflow.execute('labDrill', { taskQueue: 'runbooks', workflowId: `bench-wall-${n}-${Date.now()}`, args: [{ host: HOST, steps: n, requestedBy: 'bench', dryRun: true }] });
        wall.push(performance.now() - t);
      }
      return res.steps.filter((s) => s.state === 'ok').map((s) => s.durationMs!);
    });
    close();
    await nc.close();
    await connection.close();
    const result = {
      at: new Date().toISOString(),
      machine: 'lab loopback host, 2 vCPU',
      steps: STEPS,
      sshFreshConnectionMs: stats(sshFresh),
      ssh2ReusedExecMs: stats(sshReused),
      stepCommandMs: stats(perStep),
      stepWallMs: (wall[1]! - wall[0]!) / (STEPS - 1),
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/step-overhead.json', JSON.stringify(result, null, 2));
    const f = (x: number): string => x.toFixed(1).padStart(8);
    console.log(`\n${'what'.padEnd(48)}  median      p90     mean   (ms)`);
    console.log(`${'ssh host true, new connection (OpenSSH client)'.padEnd(48)}${f(result.sshFreshConnectionMs.median)} ${f(result.sshFreshConnectionMs.p90)} ${f(result.sshFreshConnectionMs.mean)}`);
    console.log(`${'exec true on a reused ssh2 connection'.padEnd(48)}${f(result.ssh2ReusedExecMs.median)} ${f(result.ssh2ReusedExecMs.p90)} ${f(result.ssh2ReusedExecMs.mean)}`);
    console.log(`${'runbook step: command incl. run-key protocol'.padEnd(48)}${f(result.stepCommandMs.median)} ${f(result.stepCommandMs.p90)} ${f(result.stepCommandMs.mean)}`);
    console.log(`${'runbook step: wall time per extra step'.padEnd(48)}${f(result.stepWallMs)}`);
  } finally {
    await stopDevServer(dev);
    await labDown(lab);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
