// Foundation: the whole path UI/CLI → worker → ssh2 → real sshd → result in history, and the ways it must
// refuse: unknown host, changed host key, bad input, bad inventory.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fingerprintOf } from '../activities/ssh/ssh.js';
import type { HostFacts } from '../activities/ssh/host-facts.js';
import { startDevServer, stopDevServer, type DevServerOptions } from '../scripts/temporal-server.js';
import { saveHistory } from './history-files.js';
import { failureOf, onHost, scratchDir, testEnv, uniqueId, waitFor, type TestEnv } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
after(async () => env?.close());

describe('hostFacts', () => {
  test('collects real facts from two lab hosts over SSH', async () => {
    const w = await env.startWorker();
    try {
      const h = await env.client.workflow.start('hostFacts', {
        taskQueue: 'runbooks',
        workflowId: uniqueId('facts'),
        args: [{ hosts: ['lava-master', 'sno-node'] }],
      });
      const res = await h.result();
      await saveHistory(h, 'hostFacts');
      const facts = res.output as Record<string, HostFacts>;
      for (const host of ['lava-master', 'sno-node']) {
        const f = facts[host]!;
        // Compare with what the host itself says through the plain ssh client.
        const [hostname, kernel, id] = onHost(env.inventory, host, 'hostname; uname -r; . /etc/os-release; echo $ID').trim().split('\n');
        assert.equal(f.hostname, hostname);
        assert.equal(f.hostname, host, 'each lab host has its own UTS name');
        assert.equal(f.kernel, kernel);
        assert.equal(f.osRelease.ID, id);
        assert.ok(f.uptimeSeconds > 0);
        const root = f.disks.find((d) => d.mount === '/');
        assert.ok(root && root.sizeBytes > root.freeBytes && root.freeBytes > 0, 'disk free of / is reported');
      }
    } finally {
      await w.stop();
    }
  });

  test('an unknown host fails at once, non-retryable, naming the host; nothing runs', async () => {
    const w = await env.startWorker();
    try {
      const h = await env.client.workflow.start('hostFacts', {
        taskQueue: 'runbooks',
        workflowId: uniqueId('facts-unknown'),
        args: [{ hosts: ['lava-master', 'no-such-host'] }],
      });
      const f = await failureOf(h);
      assert.equal(f.type, 'UnknownHost');
      assert.match(f.message, /unknown host "no-such-host"/);
      const history = await h.fetchHistory();
      const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes);
      const types = scheduled.map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
      assert.ok(!types.includes('collectHostFacts'), `no facts were collected, got ${types.join(',')}`);
      const attempts = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
      assert.deepEqual(attempts, [1], 'the host check ran once and was not retried');
    } finally {
      await w.stop();
    }
  });

  test('a host whose key differs from the pinned key is refused, non-retryable, with both fingerprints', async () => {
    const dir = scratchDir('wrongkey');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
    const wrong = readFileSync(join(dir, 'k.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
    const inventory = structuredClone(env.inventory);
    const real = inventory.hosts['sno-node']!.hostKey;
    inventory.hosts['sno-node']!.hostKey = wrong;
    const w = await env.startWorker({ inventory });
    try {
      const h = await env.client.workflow.start('hostFacts', {
        taskQueue: 'runbooks',
        workflowId: uniqueId('facts-mitm'),
        args: [{ hosts: ['sno-node'] }],
      });
      const f = await failureOf(h);
      assert.equal(f.type, 'HostKeyMismatch');
      const offered = fingerprintOf(Buffer.from(real.split(' ')[1]!, 'base64'));
      const pinned = fingerprintOf(Buffer.from(wrong.split(' ')[1]!, 'base64'));
      assert.ok(f.message.includes(`offered ${offered}`), f.message);
      assert.ok(f.message.includes(`pinned ${pinned}`), f.message);
      const events = (await h.fetchHistory()).events!;
      const facts = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'collectHostFacts');
      assert.equal(facts.length, 1, 'one facts activity');
      const attempts = events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
      assert.ok(
        attempts.every((a) => a === 1),
        `refused at the first attempt, never retried (attempts ${attempts.join(',')})`,
      );
    } finally {
      await w.stop();
    }
  });

  test('bad input fails at once with InvalidInput naming every bad field', async () => {
    const w = await env.startWorker();
    try {
      const h = await env.client.workflow.start('hostFacts', {
        taskQueue: 'runbooks',
        workflowId: uniqueId('facts-bad'),
        args: [{ hosts: ['Lava Master;rm -rf /'], extra: 1 }],
      });
      const f = await failureOf(h);
      assert.equal(f.type, 'InvalidInput');
      assert.match(f.message, /hosts\.0/);
      assert.match(f.message, /extra/);
      const events = (await h.fetchHistory()).events!;
      assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes).length, 0, 'nothing ran');
    } finally {
      await w.stop();
    }
  });
});

describe('worker start-up', () => {
  const runWorker = (inventory: string): { status: number | null; stderr: string } => {
    const r = spawnSync(process.execPath, ['build/workers/main.js'], {
      env: { ...process.env, RUNBOOK_INVENTORY: inventory, RUNBOOK_METRICS_PORT: '0' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { status: r.status, stderr: r.stderr };
  };

  test('the worker process logs JSON lines, serves Prometheus metrics on 127.0.0.1 and stops cleanly on SIGTERM', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, ['build/workers/main.js'], { env: { ...process.env, RUNBOOK_METRICS_PORT: String(port) } });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await waitFor('the worker to start', async () => out.includes('"worker started"'));
      const metrics = await waitFor('metrics', async () => {
        const r = await fetch(`http://127.0.0.1:${port}/metrics`);
        const text = await r.text();
        return r.ok && text.includes('temporal_') && text;
      });
      assert.match(metrics, /temporal_\w+/);
      const lines = out.trim().split('\n');
      for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `not a JSON line: ${l}`);
      assert.equal(JSON.parse(lines.find((l) => l.includes('worker started'))!).taskQueue, 'runbooks');
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, 'graceful shutdown exits 0');
  });

  test('refuses a missing inventory file, naming it', () => {
    const r = runWorker('/nonexistent/inventory.yaml');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /inventory \/nonexistent\/inventory\.yaml: cannot read \(ENOENT\)/);
  });

  test('refuses a malformed inventory, naming the file and the bad field', () => {
    const dir = scratchDir('inv');
    const path = join(dir, 'inventory.yaml');
    writeFileSync(path, 'hosts:\n  lava-master:\n    address: 127.0.0.1\n    port: 99999\n    user: rbops\n    hostKey: nonsense\n    identityFile: /x\n');
    const r = runWorker(path);
    assert.equal(r.status, 2);
    assert.ok(r.stderr.includes(path), r.stderr);
    assert.match(r.stderr, /hosts\.lava-master\.port/);
    assert.match(r.stderr, /hosts\.lava-master\.hostKey/);
  });
});

describe('persistence', () => {
  test('a finished run survives a dev server restart (SQLite file)', async () => {
    const base: DevServerOptions = JSON.parse(process.env.RUNBOOK_TEST_SERVER!);
    const o: DevServerOptions = {
      ...base,
      dbFile: join(scratchDir('persist'), 'dev.sqlite'),
      port: base.port + 1,
      uiPort: base.uiPort + 1,
    };
    const { Client, Connection } = await import('@temporalio/client');
    const { NativeConnection } = await import('@temporalio/worker');
    const { createRunbookWorker } = await import('../workers/runbook-worker.js');
    const { promoteOnStart } = await import('../workers/deployment.js');
    const address = `${o.ip}:${o.port}`;
    const workflowId = uniqueId('persist');
    let server = await startDevServer(o);
    try {
      const conn = await Connection.connect({ address });
      const client = new Client({ connection: conn });
      const nc = await NativeConnection.connect({ address });
      const { worker, close, version } = await createRunbookWorker({
        connection: nc,
        namespace: 'default',
        config: env.config,
        inventory: env.inventory,
        client: () => client,
        bundle: env.bundle,
      });
      // A fresh server knows no deployment: its first build makes itself current, as workers/main.ts does.
      await worker.runUntil(async () => {
        await promoteOnStart(client, version, 'first');
        return await client.workflow.execute('hostFacts', { taskQueue: 'runbooks', workflowId, args: [{ hosts: ['backup-store'] }] });
      });
      close();
      await nc.close();
      await conn.close();
      await stopDevServer(server);
      server = await startDevServer(o);
      const conn2 = await Connection.connect({ address });
      const d = await new Client({ connection: conn2 }).workflow.getHandle(workflowId).describe();
      assert.equal(d.status.name, 'COMPLETED');
      assert.equal(d.type, 'hostFacts');
      await conn2.close();
    } finally {
      await stopDevServer(server);
    }
  });
});
