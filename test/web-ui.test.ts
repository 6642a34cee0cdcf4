// The Web UI path an operator takes, in a real browser (Debian's chromium, headless, driven by
// playwright-core) against the Temporal Web UI embedded in the suite's dev server: start labDrill from
// the Start Workflow form, find it at its gate in the list filtered by RunbookStatus, read the gate in
// Current details, approve it with the `approve` Update from the UI, and see it complete. The UI goes
// through the codec server with "Include cross-origin credentials": logged out, its Update is refused;
// logged in as bob (the codec server's own login, session cookie), the codec server countersigns it and
// the run records bob, proven by the Web UI login, under the default policy (proof required).
// Screenshots of every stage land in test/artifacts/ (git-ignored).
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { leaseLockId } from '../activities/runbook/admin.js';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { describingWorkflowId, runSummary } from '../scripts/cli/run-summary.js';
import { CodecAuth } from '../scripts/codec-auth.js';
import { startCodecServer } from '../scripts/codec-server.js';
import type { RunbookView } from '../workflows/engine/messages.js';
import { historyText, onHost, releaseHeld, status, testEnv, trust, uniqueId, waitFor, type TestEnv } from './harness.js';
import { openUi } from '../scripts/web-ui/browser.js';
import { startFromForm } from '../scripts/web-ui/start-workflow-form.js';
import { defaultListRows, findInList } from './web-ui/workflow-list.js';
import { currentDetails, openRunFromList, waitForStatus } from './web-ui/workflow-page.js';
import { openUpdateDialog } from '../scripts/web-ui/update-dialog.js';

// build/test/web-ui.test.js → test/artifacts/
const ARTIFACTS = fileURLToPath(new URL('../../test/artifacts/', import.meta.url));
const HOST = 'lava-master';

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
after(async () => env?.close());

function uiBase(): string {
  const server = JSON.parse(process.env.RUNBOOK_TEST_SERVER ?? '{}') as { ip?: string; uiPort?: number };
  if (!server.ip || !server.uiPort) throw new Error('RUNBOOK_TEST_SERVER has no ip/uiPort: run the suite with `npm test`');
  return `http://${server.ip}:${server.uiPort}`;
}

/** The run was started by the UI, not by env.start(): end it here if the test failed half-way. */
async function endRun(workflowId: string): Promise<void> {
  const h = env.client.workflow.getHandle(workflowId);
  const d = await h.describe().catch(() => undefined);
  if (d?.status.name !== 'RUNNING') return;
  await h.terminate('test cleanup').catch(() => undefined);
  await releaseHeld(env.locks, leaseLockId(env.inventory, HOST), workflowId);
}

test('from the Web UI: start labDrill, find it at the gate, read the gate, approve it logged in by Update, see it complete', { timeout: 180_000 }, async () => {
  const policies = structuredClone(env.config.policies);
  policies.default.allowUnverifiedApprovers = false;
  policies.runbooks.labDrill = { gates: { 'write-marker': { ...policies.default, approvers: ['alice', 'bob', 'carol'] } } };
  const worker = await env.startWorker({ config: { policies } });
  const codec = await startCodecServer({
    port: 0,
    codec: null,
    auth: new CodecAuth({ usersFile: trust.codecUsers }),
    uiOrigins: [uiBase()],
    countersignKey: trust.codecKey,
    statusOf: (_ns, id) => env.client.workflow.getHandle(id).query<RunbookView>('status'),
  });
  // This run's screenshots only: drop the previous run's (a stale web-ui-failure.png would mislead).
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of readdirSync(ARTIFACTS, { withFileTypes: true })) {
    if (f.isFile() && /^web-ui-.*\.png$/.test(f.name)) rmSync(join(ARTIFACTS, f.name));
  }
  const ui = await openUi(uiBase(), ARTIFACTS, { codec: codec.url });
  const { page } = ui;
  const workflowId = uniqueId('drill-web-ui');
  const logIn = async (user: string): Promise<void> => {
    await page.goto(`${codec.url}/login`);
    await page.getByLabel('user').fill(user);
    await page.getByLabel('password').fill(trust.passwords[user]!);
    await page.getByRole('button', { name: 'log in' }).click();
    await page.getByText(`"user":"${user}"`).waitFor();
  };
  try {
    await logIn('alice');
    // 1. The Start Workflow form.
    await startFromForm(
      page,
      ui.base,
      { workflowId, taskQueue: 'runbooks', workflowType: 'labDrill', input: { host: HOST, steps: 2, requestedBy: 'alice' }, encoding: 'json/plain' },
      () => ui.shot('web-ui-1-start-form'),
    );
    await ui.shot('web-ui-2-started');
    const h = env.client.workflow.getHandle(workflowId);
    const started = await h.describe();
    assert.deepEqual([started.type, started.taskQueue], ['labDrill', 'runbooks']);

    // 2. At the gate, found by the list filtered with the visibility query.
    const gateView = await waitFor('the gate to open', async () => {
      const v = await status(h);
      return v.status === 'AwaitingApproval' && v;
    });
    const row = await findInList(page, ui.base, 'RunbookStatus = "AwaitingApproval"', workflowId);
    assert.match(await row.innerText(), /labDrill/);
    await ui.shot('web-ui-3-list-awaiting-approval');

    // 3. The run's page: Current details shows the gate and how to approve it.
    await openRunFromList(page, row, workflowId);
    await waitForStatus(page, 'Running');
    const details = await currentDetails(page, 'awaits approval');
    assert.match(details, /labDrill: AwaitingApproval/);
    assert.match(details, /Gate write-marker awaits approval/);
    assert.match(details, /approvers: alice, bob, carol/);
    assert.ok(details.includes(gateView.openGate!.fingerprint), 'the plan fingerprint is shown');
    assert.ok(details.includes(`npx runbook approve ${workflowId} --gate write-marker --reason`), details);
    assert.ok(details.includes(`"workflowId": "${workflowId}", "gate": "write-marker"`), details);
    await ui.shot('web-ui-4-current-details');

    // The Update dialog lists the workflow's own handlers (from its metadata query).
    let dialog = await openUpdateDialog(page);
    const names = await dialog.names();
    for (const n of ['approve', 'reject', 'decide']) assert.ok(names.includes(n), `Update names in the UI: ${names.join(', ')}`);
    await ui.shot('web-ui-5-update-names');
    await dialog.choose('approve');

    // The requester, logged in, cannot approve her own run: the codec names her, the run refuses.
    await dialog.fill({ workflowId, gate: 'write-marker', verdict: 'approve', reason: 'approved from the Web UI' });
    const refused = await dialog.submit();
    assert.equal(refused.accepted, false);
    assert.match(refused.accepted ? '' : refused.error, /four-eyes: "alice" requested this run and cannot approve it/);
    await ui.shot('web-ui-6-update-refused-four-eyes');
    await dialog.cancel();

    // Logged out: the codec server serves nobody, the Update does not count.
    const runPage = page.url();
    await page.goto(`${codec.url}/logout`);
    await page.goto(runPage);
    dialog = await openUpdateDialog(page);
    await dialog.choose('approve');
    await dialog.fill({ workflowId, gate: 'write-marker', verdict: 'approve', reason: 'logged out' });
    const loggedOut = await dialog.submit().catch((err: Error) => ({ accepted: false as const, error: err.message }));
    assert.equal(loggedOut.accepted, false);
    await ui.shot('web-ui-6b-update-refused-logged-out');
    assert.equal((await status(h)).status, 'AwaitingApproval', 'the refused Updates changed nothing');
    assert.equal((await status(h)).approvals.length, 0);

    await logIn('bob');
    await page.goto(runPage);
    dialog = await openUpdateDialog(page);
    await dialog.choose('approve');
    await dialog.fill({ workflowId, gate: 'write-marker', verdict: 'approve', reason: 'approved from the Web UI' });
    await ui.shot('web-ui-7-update-approve-by-bob');
    assert.deepEqual(await dialog.submit(), { accepted: true });

    // 4. Completed, in the UI (badge, refreshed Current details, the Update in the timeline) and for the client.
    await waitForStatus(page, 'Completed', 60_000);
    assert.match(await currentDetails(page, 'labDrill: Completed'), /write marker\s+ok\s+lava-master\s+0\s/);
    await ui.shot('web-ui-8-completed');
    await page.getByRole('main').getByRole('tab', { name: 'Timeline' }).click();
    await page
      .getByRole('main')
      .getByRole('button', { name: /^Event approve\b/ })
      .first()
      .waitFor();
    await ui.shot('web-ui-9-completed-timeline');
    const res = (await h.result()) as RunbookResult;
    assert.equal(res.status, 'Completed');
    assert.deepEqual(
      res.approvals.map((a) => [a.approver, a.verdict, a.via, a.reason, a.proven?.via, a.proven?.identity]),
      [['bob', 'approved', 'update', 'approved from the Web UI', 'web', 'web user bob']],
    );
    // The audit (history): the proof was checked by the verifying (local) activity, its marker in history.
    const history = await historyText(h);
    assert.ok(history.includes('verifyVerdictProof'), 'the proof was verified by an activity, in history');
    assert.equal(Number(onHost(env.inventory, HOST, `wc -l < drill/${workflowId}.marker`).trim()), 1, 'the marker was written once');
  } catch (err) {
    await ui.shot('web-ui-failure').catch(() => undefined);
    if (ui.pageErrors.length) console.error(`Web UI page errors:\n${ui.pageErrors.join('\n')}`);
    throw err;
  } finally {
    await ui.close();
    await codec.close();
    await worker.stop();
    await endRun(workflowId);
  }
});

test(
  'what an SRE sees: no lock in the default list, the run named by its hosts in the list, its summary, step names in the timeline, a refusal in one sentence',
  { timeout: 180_000 },
  async () => {
    const worker = await env.startWorker();
    const ui = await openUi(uiBase(), ARTIFACTS);
    const { page } = ui;
    const input = { host: HOST, steps: 1, requestedBy: 'alice' };
    // Started as `runbook start` does: an id that names the hosts, the static summary and details.
    const workflowId = describingWorkflowId('labDrill', input);
    const summary = runSummary('labDrill', input, 'runbook start');
    try {
      const h = await env.client.workflow.start('labDrill', { taskQueue: 'runbooks', workflowId, args: [input], ...summary });
      await waitFor('the gate to open', async () => (await status(h)).status === 'AwaitingApproval');

      // The default list, as it opens: the run (it holds the host's lease), and no lock workflow.
      const rows = await defaultListRows(page, ui.base, workflowId);
      assert.ok((await env.locks.workflow.getHandle(leaseLockId(env.inventory, HOST)).describe()).status.name === 'RUNNING', 'the lock runs');
      assert.deepEqual(
        rows.filter((r) => /hostLease|host-lease:/.test(r)),
        [],
        'no lock workflow in the default list',
      );
      await ui.shot('web-ui-09-default-list-runbooks-only');

      // The list: the row says which runbook on which host (the 2.54 list has no summary column; the id carries it).
      const row = await findInList(page, ui.base, 'RunbookStatus = "AwaitingApproval"', workflowId);
      assert.match(await row.innerText(), new RegExp(`labDrill-${HOST}-`));
      await ui.shot('web-ui-10-list-named-by-host');

      // The run's page: the static summary and details under User Metadata.
      await openRunFromList(page, row, workflowId);
      const main = page.getByRole('main');
      await main.getByRole('tab', { name: 'User Metadata' }).click();
      // Summary and Details are rendered markdown, each in its own frame (like Current details).
      await waitFor('the static summary under User Metadata', async () => {
        for (const f of page.frames()) {
          const text = await f
            .locator('body')
            .innerText({ timeout: 1_000 })
            .catch(() => '');
          if (text.includes(summary.staticSummary)) return true;
        }
        return false;
      });
      assert.equal(summary.staticSummary, `labDrill on ${HOST} · requested by alice`);
      await ui.shot('web-ui-11-static-summary');

      // The timeline names the engine's own activities by what they do, not by their function names alone.
      await main.getByRole('tab', { name: 'Timeline' }).click();
      for (const name of [`check the hosts: ${HOST}`, 'load the approval policy of labDrill', `ask for the lease on ${HOST}`]) {
        await main.getByText(name, { exact: false }).first().waitFor();
      }
      await ui.shot('web-ui-12-timeline-step-names');

      // A refused Update: the reason in one sentence, no stack trace, no source path.
      const dialog = await openUpdateDialog(page);
      await dialog.choose('approve');
      await dialog.fill({ gate: 'write-marker', approver: 'mallory', reason: 'not an approver' });
      const refused = await dialog.submit();
      assert.equal(refused.accepted, false);
      const error = refused.accepted ? '' : refused.error;
      assert.match(error, /mallory/);
      assert.doesNotMatch(error, /\n\s*at |\.(js|ts):\d+|\/build\/|\/workflows\//, `the refusal shows a stack or a path:\n${error}`);
      await ui.shot('web-ui-13-refusal-one-sentence');
      await dialog.cancel();
    } catch (err) {
      await ui.shot('web-ui-failure-2').catch(() => undefined);
      throw err;
    } finally {
      await ui.close();
      await worker.stop();
      await endRun(workflowId);
    }
  },
);
