// Gate policies from the worker's config: timeouts that reject, keep-waiting with reminders to a real
// webhook (its token never in history), quorum of distinct approvers.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import type { WorkerConfig } from '../workers/config.js';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { failureOf, refusedUpdate, status, testEnv, uniqueId, waitFor, type TestEnv } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
afterEach(async () => env?.endRuns());
after(async () => env?.close());

const HOST = 'backup-store';

function withGate(gate: Partial<WorkerConfig['policies']['default']>, extra: Partial<WorkerConfig> = {}): Partial<WorkerConfig> {
  const policies = structuredClone(env.config.policies);
  policies.runbooks.labDrill = { gates: { 'write-marker': { ...policies.default, approvers: ['alice', 'bob', 'carol'], ...gate } } };
  return { policies, ...extra };
}

describe('gate policies', () => {
  test('a gate whose timeout passes with onTimeout=reject ends the run as aborted, recorded as a timeout', async () => {
    const w = await env.startWorker({ config: withGate({ timeout: '2s', onTimeout: 'reject' }) });
    try {
      const h = await env.start('labDrill', uniqueId('gate-timeout'), { host: HOST, steps: 1, requestedBy: 'alice' });
      const f = await failureOf(h);
      assert.equal(f.type, 'Aborted');
      assert.match(f.message, /gate "write-marker" rejected by timeout: no decision within 2s/);
    } finally {
      await w.stop();
    }
  });

  test('keep-waiting sends reminders to the webhook with its bearer token, which never enters history', async () => {
    const token = `tok-${Math.random().toString(36).slice(2)}`;
    const received: { auth?: string; body: { event: string; gate?: string; workflowId: string; text: string } }[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        received.push({ auth: req.headers.authorization, body: JSON.parse(body) });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    process.env.RUNBOOK_WEBHOOK_TOKEN = token;
    const w = await env.startWorker({ config: withGate({ timeout: '1s', onTimeout: 'keep-waiting', remindEvery: '1s' }, { notify: { webhookUrl: url } }) });
    try {
      const h = await env.start('labDrill', uniqueId('gate-remind'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('two reminders', async () => received.filter((r) => r.body.event === 'reminder' && r.body.workflowId === h.workflowId).length >= 2);
      const first = received.find((r) => r.body.workflowId === h.workflowId)!;
      assert.equal(first.body.event, 'awaiting-approval');
      assert.equal(first.body.gate, 'write-marker');
      // Slack-compatible: one `text` with the run's UI link and the approve command.
      assert.ok(first.body.text.includes(`/namespaces/default/workflows/${h.workflowId}`), first.body.text);
      assert.ok(first.body.text.includes(`npx runbook approve ${h.workflowId} --gate write-marker`), first.body.text);
      assert.ok(received.every((r) => r.auth === `Bearer ${token}`));
      assert.equal((await status(h)).status, 'AwaitingApproval', 'still waiting after the timeout');
      await h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob' }] });
      await h.result();
      const history = JSON.stringify(await h.fetchHistory());
      assert.ok(!history.includes(token), 'the webhook token is not in history');
    } finally {
      delete process.env.RUNBOOK_WEBHOOK_TOKEN;
      await w.stop();
      server.close();
    }
  });

  test('a webhook that is down never blocks or fails the run', async () => {
    // Port 9 on loopback: nothing listens, every delivery fails at once and is retried in the background.
    const w = await env.startWorker({ config: withGate({}, { notify: { webhookUrl: 'http://127.0.0.1:9/hook' } }) });
    try {
      const h = await env.start('labDrill', uniqueId('gate-hook-down'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the gate despite the dead webhook', async () => (await status(h)).status === 'AwaitingApproval');
      await h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob' }] });
      assert.equal(((await h.result()) as RunbookResult).status, 'Completed');
    } finally {
      await w.stop();
    }
  });

  test('quorum 2 needs two distinct approvers; the same approver twice is refused', async () => {
    const w = await env.startWorker({ config: withGate({ quorum: 2 }) });
    try {
      const h = await env.start('labDrill', uniqueId('gate-quorum'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the gate', async () => (await status(h)).status === 'AwaitingApproval');
      await h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob', reason: 'one' }] });
      assert.match(await refusedUpdate(h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'bob', reason: 'again' }] })), /already approved/);
      assert.equal((await status(h)).openGate?.approvals.length, 1);
      await h.executeUpdate('approve', { args: [{ gate: 'write-marker', approver: 'carol', reason: 'two' }] });
      const res = (await h.result()) as RunbookResult;
      assert.deepEqual(
        res.approvals.map((a) => a.approver),
        ['bob', 'carol'],
      );
    } finally {
      await w.stop();
    }
  });
  // Signed verdicts, and every way around them: test/approval-proofs.test.ts.
});
