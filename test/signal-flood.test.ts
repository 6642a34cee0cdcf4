// A flood of large signals during a gate: what they leave in the run's state is bounded (text clipped,
// only the latest ignored kept, all counted), and the run is still rejected, cleans up and frees its host.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { leaseLockId } from '../activities/runbook/admin.js';
import { failureOf, status, testEnv, uniqueId, waitFor, type TestEnv } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
afterEach(async () => env?.endRuns());
after(async () => env?.close());

const HOST = 'controller-0';

test(
  // 5,000 by default, not the 10,000: Temporal caps one run at 10,000 signals (a retried signal is
  // refused), and replaying a 13 MB history after a cache drop passes the workflow task timeout.
  `${Number(process.env.FLOOD_SIGNALS ?? 5_000)} large approval signals during a gate (Temporal caps a run at 10,000): the run stays bounded, is rejected, cleans up and frees the host`,
  {
    // Before refusals at arrival, 2,000 of them crashed the workflow thread: one timer per queued verdict in one
    // activation overran its deadline ("async hook stack has become corrupted", sdk-typescript#939).
    timeout: 300_000,
  },
  async () => {
    const w = await env.startWorker();
    try {
      const h = await env.start('labDrill', uniqueId('drill-flood'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await waitFor('the gate', async () => (await status(h)).status === 'AwaitingApproval');
      const big = { gate: 'write-marker', approver: `mallory-${'m'.repeat(200)}`, reason: 'r'.repeat(1000), verdict: 'approve' };
      const N = Number(process.env.FLOOD_SIGNALS ?? 5_000);
      for (let i = 0; i < N; i += 250) {
        await Promise.all(Array.from({ length: Math.min(250, N - i) }, () => h.signal('approval', big)));
      }
      const v = await waitFor(
        'every signal counted',
        async () => {
          const s = await status(h);
          return s.ignoredTotal === N && s;
        },
        120_000,
      );
      const size = JSON.stringify(v).length;
      console.log(`${N} signals of ${JSON.stringify(big).length} bytes: status ${size} bytes, ${v.ignored.length} kept, ${v.ignoredTotal} counted`);
      assert.ok(size < 100_000, `the status stays small (${size} bytes)`);
      assert.equal(v.status, 'AwaitingApproval', 'none of them counted');
      await h.executeUpdate('reject', { args: [{ gate: 'write-marker', approver: 'bob', reason: 'x'.repeat(50_000) }] });
      const f = await failureOf(h);
      assert.match(f.message, /rejected by bob/);
      assert.ok(f.message.length < 2_000, 'the reason is clipped where it is recorded');
      const lease = await env.locks.workflow.getHandle(leaseLockId(env.inventory, HOST)).query<{ holder?: { workflowId: string } }>('lease');
      assert.notEqual(lease.holder?.workflowId, h.workflowId, 'the lease was released');
    } finally {
      await w.stop();
    }
  },
);
