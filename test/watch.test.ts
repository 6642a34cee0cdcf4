// `runbook watch <id>` in a real terminal: tmux (its own server socket, so it inherits this suite's
// TEMPORAL_ADDRESS) runs the command in a 160x50 pane, and capture-pane reads what a person sees. It
// proves the live view shows the steps and the open gate with its approve line, redraws when the run moves
// on, and exits with the run's outcome: 0 after an approval (Completed), 1 after a rejection.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { status, testEnv, uniqueId, waitFor, type RunningWorker, type TestEnv } from './harness.js';

let env: TestEnv;
let worker: RunningWorker;
const socket = uniqueId('runbook-watch');
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', env: process.env });

before(async () => {
  env = await testEnv();
  worker = await env.startWorker();
});
after(async () => {
  try {
    tmux('kill-server');
  } catch {
    // no server left: every session ended
  }
  await env?.endRuns();
  await worker?.stop();
  await env?.close();
});

/** Starts `runbook watch` in a detached pane that stays open after it exits, printing its exit code. */
function watchInPane(session: string, workflowId: string): () => string {
  tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '160',
    '-y',
    '50',
    `cd ${JSON.stringify(process.cwd())} && node build/scripts/runbook.js watch ${workflowId}; echo "EXIT=$?"; sleep 600`,
  );
  return () => tmux('capture-pane', '-p', '-t', session);
}

for (const verdict of ['approve', 'reject'] as const) {
  test(
    `runbook watch shows the run live and exits ${verdict === 'approve' ? '0 when it completes' : '1 when it is rejected'}`,
    { timeout: 120_000 },
    async () => {
      const id = uniqueId(`watch-${verdict}`);
      const h = await env.start('labDrill', id, { host: 'lava-worker', steps: 2, requestedBy: 'alice' });
      const pane = watchInPane(id, id);
      const atGate = (await waitFor('the watch view to show the open gate', async () => {
        const s = pane();
        return s.includes('gate write-marker') && s;
      })) as string;
      assert.match(atGate, /labDrill .* AwaitingApproval/);
      assert.match(atGate, /harmless step 1/);
      assert.match(atGate, new RegExp(`approve: runbook approve ${id} --gate write-marker`));
      assert.match(atGate, /watching for \d+ s/);
      assert.ok(!atGate.includes('EXIT='), 'still watching while the run waits');
      await waitFor('the gate in the status query', async () => (await status(h)).status === 'AwaitingApproval');

      await h.executeUpdate(verdict, { args: [{ gate: 'write-marker', approver: 'bob', reason: 'watched' }] });
      const end = (await waitFor('runbook watch to exit', async () => {
        const s = pane();
        return s.includes('EXIT=') && s;
      })) as string;
      if (verdict === 'approve') {
        assert.match(end, new RegExp(`✔ ${id} ended Completed`));
        assert.match(end, /EXIT=0/);
      } else {
        assert.match(end, new RegExp(`✖ ${id} ended \\w+: .*bob`));
        assert.match(end, /EXIT=1/);
      }
      tmux('kill-session', '-t', id);
    },
  );
}
