// `npm run tour-lava-ui`: the README tour's LAVA story as a person does it in the Web UI, against a
// running `npm start`: back up the master (started from the Start Workflow form, logged in at the codec
// server as alice), break it (drop its database), restore it (started from the form too) and take every
// gate and decision in the run's Update dialog, logged in as bob (the requester may not approve). The lab's
// qemu devices have no image to boot, so their health checks stand in as the test suite's do: the devices'
// health set as a passed check leaves it, then bob's retry. Exit 0 when the restore ends Completed with the
// backup's devices, workers and jobs.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { connectClient } from '../../workers/connection.js';
import type { RunbookView } from '../../workflows/engine/messages.js';
import { uiBase } from '../cli/output.js';
import { describingWorkflowId } from '../cli/run-summary.js';
import { TASK_QUEUE } from '../cli/session.js';
import { labTrust } from '../lab-trust.js';
import { openUi, type UiBrowser } from '../web-ui/browser.js';
import { startFromForm } from '../web-ui/start-workflow-form.js';
import { openUpdateDialog } from '../web-ui/update-dialog.js';
import { defaultLabOptions } from './lab.js';
import { labLayout } from './layout.js';
import { labTarget, runSsh } from './ssh-client.js';

const MASTER = 'lava-master';
const STORE = 'backup-store';
/** The step a lab restore parks on: its devices are in Maintenance until a health check passes. */
const HEALTH_STEP = 'check the health checks have passed';

const lab = defaultLabOptions();
const psql = (sql: string, db = 'lavaserver'): string =>
  execFileSync('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(lab.pgPort), '-U', 'postgres', '-d', db, '-c', sql], {
    encoding: 'utf8',
  }).trim();
const snapshot = () => ({
  devices: psql('select hostname from lava_scheduler_app_device order by 1'),
  workers: psql('select hostname from lava_scheduler_app_worker order by 1'),
  jobs: psql('select id from lava_scheduler_app_testjob order by 1'),
});

async function onMaster(command: string): Promise<string> {
  const layout = labLayout(lab);
  const r = await runSsh(
    labTarget(
      layout,
      layout.hosts.find((h) => h.name === MASTER)!,
      lab.port,
    ),
    command,
    120_000,
  );
  if (r.exitCode !== 0) throw new Error(`${MASTER}$ ${command}: exit ${r.exitCode}: ${String(r.stderr).trim()}`);
  return String(r.stdout);
}

const say = (line: string): void => console.log(`lava-story: ${line}`);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function logIn(ui: UiBrowser, codec: string, user: string): Promise<void> {
  await ui.page.goto(`${codec}/login`);
  await ui.page.getByLabel('user').fill(user);
  await ui.page.getByLabel('password').fill(labTrust().passwords[user]!);
  await ui.page.getByRole('button', { name: 'log in' }).click();
  await ui.page.getByText(`"user":"${user}"`).waitFor();
}

/** Polls until the run is closed, at a gate or parked (bounded). */
async function settle(h: WorkflowHandle, timeoutMs = 15 * 60_000): Promise<{ closed?: string; view?: RunbookView }> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const d = await h.describe();
    const view = await h.query<RunbookView>('status').catch(() => undefined);
    if (d.status.name !== 'RUNNING') return { closed: d.status.name, view };
    if (view && (view.openGate || view.parked)) return { view };
    if (Date.now() > until) throw new Error(`${h.workflowId}: still ${view?.status} at "${view?.currentStep}"`);
    await pause(1000);
  }
}

/** From the run's own page in the UI: More Actions → Send an Update, `name` with `data`. */
async function updateFromUi(ui: UiBrowser, workflowId: string, name: string, data: object): Promise<void> {
  await ui.page.goto(`${ui.base}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
  await ui.page.getByRole('main').getByRole('heading', { level: 1, name: workflowId }).waitFor();
  const dialog = await openUpdateDialog(ui.page);
  await dialog.choose(name);
  await dialog.fill(data);
  const r = await dialog.submit();
  if (!r.accepted) throw new Error(`the UI refused the Update ${name}: ${r.error}`);
}

async function startFromUi(c: Client, ui: UiBrowser, runbook: string, input: Record<string, unknown>): Promise<WorkflowHandle> {
  const workflowId = `story-${describingWorkflowId(runbook, input)}`;
  await startFromForm(ui.page, ui.base, { workflowId, taskQueue: TASK_QUEUE, workflowType: runbook, input });
  return c.workflow.getHandle(workflowId);
}

async function main(): Promise<void> {
  const c = await connectClient();
  const codec = (process.env.RUNBOOK_CODEC_URL ?? 'http://127.0.0.1:8888').replace(/\/$/, '');
  const ui = await openUi(uiBase(), join(process.env.RUNBOOK_DATA_DIR ?? '.data', 'tour-check'), { codec });
  const t0 = Date.now();
  const at = (): string => `${Math.round((Date.now() - t0) / 1000)} s`;
  try {
    // A master in service, as the tour assumes (an earlier story leaves the devices Good).
    const before = snapshot();
    say(
      `the master has devices ${before.devices.split('\n').join(', ')}, workers ${before.workers.split('\n').join(', ')}, ${before.jobs.split('\n').length} jobs`,
    );

    await logIn(ui, codec, 'alice');
    const backup = await startFromUi(c, ui, 'lavaMasterBackup', { master: MASTER, store: STORE, requestedBy: 'alice' });
    say(`1. lavaMasterBackup started from the Web UI as alice: ${backup.workflowId}`);
    const b = await settle(backup);
    if (b.closed !== 'COMPLETED') throw new Error(`the backup ended ${b.closed ?? b.view?.status}: ${b.view?.lastError ?? b.view?.parked?.error ?? ''}`);
    say(`   Completed (${at()})`);

    psql('drop database lavaserver with (force)', 'postgres');
    // A page that reads the database (the home page may still come from what gunicorn has cached).
    const web = await fetch('http://127.0.0.1:8000/api/v0.2/devices/', { signal: AbortSignal.timeout(10_000) }).then(
      (r) => `answers ${r.status}`,
      (err: Error) => `fails (${err.message})`,
    );
    say(`2. broken: database lavaserver dropped; http://127.0.0.1:8000/api/v0.2/devices/ ${web}`);

    const restore = await startFromUi(c, ui, 'lavaMasterRestore', { master: MASTER, store: STORE, bundle: 'latest', requestedBy: 'alice' });
    say(`3. lavaMasterRestore started from the Web UI as alice: ${restore.workflowId}`);
    await logIn(ui, codec, 'bob');
    for (;;) {
      const r = await settle(restore);
      if (r.closed) {
        if (r.closed !== 'COMPLETED') throw new Error(`the restore ended ${r.closed}: ${r.view?.lastError ?? ''}`);
        break;
      }
      const v = r.view!;
      if (v.openGate) {
        await updateFromUi(ui, restore.workflowId, 'approve', {
          workflowId: restore.workflowId,
          gate: v.openGate.name,
          verdict: 'approve',
          reason: 'lava story: approved from the Web UI',
        });
        say(`   gate ${v.openGate.name}: approved by bob in the Web UI's Update dialog (${at()})`);
        await waitPast(restore, (s) => s.openGate?.name !== v.openGate!.name);
        continue;
      }
      if (v.parked?.step !== HEALTH_STEP) throw new Error(`parked at "${v.parked?.step}": ${v.parked?.error}`);
      say(`   parked at "${HEALTH_STEP}": ${v.parked.error.split('\n')[0]}`);
      // The stand-in for a health check that passed (the lab's devices cannot boot a job).
      for (const d of psql('select hostname from lava_scheduler_app_device order by 1').split('\n'))
        await onMaster(`sudo -n lava-server manage devices update --health GOOD ${d}`);
      await updateFromUi(ui, restore.workflowId, 'decide', { workflowId: restore.workflowId, decision: 'retry', reason: 'lava story: health checks passed' });
      say(`   devices set Good (the health checks' stand-in), then "retry" by bob in the Web UI (${at()})`);
      await waitPast(restore, (s) => s.parked?.step !== HEALTH_STEP);
    }
    const after = snapshot();
    const same = JSON.stringify(after) === JSON.stringify(before);
    say(`4. lavaMasterRestore Completed (${at()}): devices, workers and jobs ${same ? 'as in the backup' : `DIFFER: ${JSON.stringify({ before, after })}`}`);
    if (!same) process.exitCode = 1;
  } catch (err) {
    await ui.shot('lava-story-failure').catch(() => undefined);
    throw err;
  } finally {
    await ui.close();
    await c.connection.close();
  }
}

/** Until the run's status has moved past what was just answered (the next settle must not see it again). */
async function waitPast(h: WorkflowHandle, moved: (v: RunbookView) => boolean): Promise<void> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    const d = await h.describe();
    if (d.status.name !== 'RUNNING') return;
    if (moved(await h.query<RunbookView>('status'))) return;
    await pause(500);
  }
  throw new Error(`${h.workflowId} did not move on within 60 s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
