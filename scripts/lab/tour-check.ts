// `npm run tour-check`: against a running `npm start`, starts each of the 17 runbooks with the README's
// example input and checks that it ends Completed or waits at its first gate, which is what a newcomer
// trying the README's table sees. A run at its gate is then rejected (as bob: nothing has changed yet), so
// the next run of the family gets the hosts' leases. The families run side by side; within one, in the
// order a person would try them (a snapshot before its rollback, a backup before its restore).
// Where a later runbook needs what an earlier one only makes past its gates (the SNO recovery needs a
// finished pre-upgrade backup), the earlier one is approved through to the end after its first gate was seen.
// Exit code 0 when all 17 behaved; one line per runbook either way.
// `--ui`: each run is started as a person would, from the Web UI's Start Workflow form in Chromium (task
// queue, type, the input as one JSON object); the check and the verdicts after it go through the client.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { connectClient } from '../../workers/connection.js';
import type { RunbookView } from '../../workflows/engine/messages.js';
import { signStatement, statementFor } from '../cli/gates.js';
import { describingWorkflowId, runSummary } from '../cli/run-summary.js';
import { labTrust } from '../lab-trust.js';
import { TASK_QUEUE } from '../cli/session.js';
import { uiBase } from '../cli/output.js';
import { join } from 'node:path';
import { defaultLabOptions } from './lab.js';
import { labLayout } from './layout.js';
import { labRescueKernel } from './rear-controller.js';
import { labTarget, runSsh } from './ssh-client.js';

interface Try {
  runbook: string;
  input: Record<string, unknown>;
  /** What a fresh lab does: ends Completed, or waits at a first gate. Either passes; anything else fails. */
  expect: 'Completed' | 'gate';
  /** After checking, approve every gate up to the end (a later runbook of the family needs its result). */
  thenFinish?: boolean;
  timeoutMinutes?: number;
  /** What the README's tour has a person do on a lab host first (host, command line). */
  before?: [string, string];
}

const alice = { requestedBy: 'alice' };

/** A verdict or decision of the lab approver bob, signed with his lab key as `runbook approve|reject|decide` does. */
async function asBob(
  c: Client,
  h: WorkflowHandle,
  what: { gate: string; verdict: 'approve' | 'reject' } | { decision: 'abort' },
  reason: string,
): Promise<Record<string, unknown>> {
  const trust = labTrust();
  const verdict = 'gate' in what ? what.verdict : what.decision;
  const st = await statementFor(c, h.workflowId, what, verdict, 'bob');
  const proof = signStatement(trust.keys.bob!, st);
  return 'gate' in what
    ? { gate: what.gate, approver: 'bob', reason, fingerprint: st.fingerprint, proof }
    : { decision: what.decision, operator: 'bob', reason, proof };
}
/** The README's table, first column's example for each runbook (optional fields only where the README says to). */
const FAMILIES: Record<string, Try[]> = {
  core: [
    { runbook: 'hostFacts', input: { hosts: ['lava-master', 'sno-node'] }, expect: 'Completed' },
    { runbook: 'labDrill', input: { host: 'lava-master', steps: 3, ...alice }, expect: 'gate' },
  ],
  lava: [
    { runbook: 'lavaMasterBackup', input: { master: 'lava-master', store: 'backup-store', ...alice }, expect: 'Completed' },
    { runbook: 'lavaWorkerBackup', input: { worker: 'lava-worker', store: 'backup-store', ...alice }, expect: 'Completed' },
    { runbook: 'lavaBackupVerify', input: { store: 'backup-store', ...alice }, expect: 'Completed' },
    { runbook: 'lavaMasterRestore', input: { master: 'lava-master', store: 'backup-store', bundle: 'latest', ...alice }, expect: 'gate' },
    {
      runbook: 'lavaWorkerRestore',
      input: { worker: 'lava-worker', master: 'lava-master', store: 'backup-store', bundle: 'latest', ...alice },
      expect: 'gate',
      // LAVA's admin docs: no job may land on the worker while it is restored (the runbook refuses otherwise).
      before: ['lava-master', 'sudo -n lava-server manage maintenance --force'],
    },
  ],
  openstack: [
    { runbook: 'openstackSnapshot', input: { cloud: 'lab', server: 'web-1', name: 'web-1-ref', resyncClock: false, ...alice }, expect: 'Completed' },
    { runbook: 'openstackRollback', input: { cloud: 'lab', server: 'web-1', image: 'web-1-ref', ...alice }, expect: 'gate' },
    {
      runbook: 'openstackClone',
      input: { cloud: 'lab', server: 'web-1', newName: 'web-2', flavor: 'm2.small', keyName: 'lab-key', ...alice },
      expect: 'Completed',
      timeoutMinutes: 15,
    },
    { runbook: 'openstackMove', input: { fromCloud: 'lab', toCloud: 'lab2', server: 'app-1', keepName: true, ...alice }, expect: 'gate', timeoutMinutes: 15 },
    { runbook: 'openstackRename', input: { cloud: 'lab', server: 'db-1', newName: 'db-2', ...alice }, expect: 'gate', timeoutMinutes: 15 },
  ],
  sno: [
    { runbook: 'snoPreUpgradeBackup', input: { node: 'sno-node', marginMiB: 16, ...alice }, expect: 'gate', thenFinish: true },
    { runbook: 'snoUpgradeRecovery', input: { node: 'sno-node', ...alice }, expect: 'gate' },
  ],
  rear: [
    { runbook: 'rearPrepareStore', input: { store: 'backup-store', ...alice }, expect: 'gate', thenFinish: true },
    {
      runbook: 'rearBackup',
      // The lab's controller shares the machine's filesystem: back up only its own files, with the kernel in /boot.
      input: {
        nodes: ['controller-0'],
        store: 'backup-store',
        output: 'ISO',
        backup: 'NETFS',
        includeOnly: ['/etc/rear', '/root'],
        rescueKernel: labRescueKernel(),
        bootloader: 'GRUB2',
        ...alice,
      },
      // A second tour keeps the previous backup behind gate mkbackup-controller-0: approved through.
      expect: 'gate',
      thenFinish: true,
      timeoutMinutes: 20,
    },
    {
      runbook: 'rearControllerRecovery',
      input: { hypervisor: 'hypervisor', domain: 'controller-0', store: 'backup-store', mode: 'manual', ...alice },
      expect: 'gate',
    },
  ],
};

interface Outcome {
  runbook: string;
  workflowId: string;
  ok: boolean;
  says: string;
  seconds: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the run's status query until it is closed, waits at a gate, or is parked. */
async function settle(h: WorkflowHandle, timeoutMs: number): Promise<{ closed?: string; view?: RunbookView }> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const d = await h.describe();
    if (d.status.name !== 'RUNNING') {
      const view = await h.query<RunbookView>('status').catch(() => undefined);
      return { closed: d.status.name, view };
    }
    const view = await h.query<RunbookView>('status').catch(() => undefined);
    if (view && (view.openGate || view.parked)) return { view };
    if (Date.now() > until) return { view };
    await pause(1000);
  }
}

/** How a run is started: by the client (with the CLI's summary), or from the Web UI's form. */
type Starter = (t: Try, workflowId: string) => Promise<WorkflowHandle>;

const byClient =
  (c: Client): Starter =>
  (t, workflowId) =>
    c.workflow.start(t.runbook, { taskQueue: TASK_QUEUE, workflowId, args: [t.input], ...runSummary(t.runbook, t.input, 'tour-check') });

/** One Chromium page for every family: starts go one at a time through the form. */
async function byWebUi(c: Client): Promise<{ start: Starter; close: () => Promise<void> }> {
  const { openUi } = await import('../web-ui/browser.js');
  const { startFromForm } = await import('../web-ui/start-workflow-form.js');
  // As the start banner tells a person: the UI encodes the input through the codec server, which serves
  // only someone logged in, with the UI's "Include cross-origin credentials" ticked. alice, who requests.
  const codec = (process.env.RUNBOOK_CODEC_URL ?? 'http://127.0.0.1:8888').replace(/\/$/, '');
  const ui = await openUi(uiBase(), join(process.env.RUNBOOK_DATA_DIR ?? '.data', 'tour-check'), { codec });
  await ui.page.goto(`${codec}/login`);
  await ui.page.getByLabel('user').fill('alice');
  await ui.page.getByLabel('password').fill(labTrust().passwords.alice!);
  await ui.page.getByRole('button', { name: 'log in' }).click();
  await ui.page.getByText('"user":"alice"').waitFor();
  let turn: Promise<unknown> = Promise.resolve();
  const start: Starter = async (t, workflowId) => {
    const mine = turn.then(() => startFromForm(ui.page, ui.base, { workflowId, taskQueue: TASK_QUEUE, workflowType: t.runbook, input: t.input }));
    turn = mine.catch(() => undefined);
    await mine.catch(async (err: Error) => {
      await ui.shot(`failed-start-${t.runbook}`).catch(() => undefined);
      throw err;
    });
    return c.workflow.getHandle(workflowId);
  };
  return { start, close: () => ui.close() };
}

async function tryOne(c: Client, t: Try, start: Starter): Promise<Outcome> {
  const t0 = Date.now();
  const workflowId = `tour-${describingWorkflowId(t.runbook, t.input)}`;
  const seconds = () => Math.round((Date.now() - t0) / 1000);
  if (t.before) {
    const lab = labLayout(defaultLabOptions());
    const host = lab.hosts.find((x) => x.name === t.before![0])!;
    const r = await runSsh(labTarget(lab, host, 22), t.before[1], 120_000);
    if (r.exitCode !== 0)
      return {
        runbook: t.runbook,
        workflowId: '-',
        ok: false,
        says: `${t.before.join('$ ')}: exit ${r.exitCode}: ${String(r.stderr).trim().split('\n').slice(-1)[0]}`,
        seconds: seconds(),
      };
  }
  const h = await start(t, workflowId);
  const r = await settle(h, (t.timeoutMinutes ?? 8) * 60_000);
  const v = r.view;
  const out = (ok: boolean, says: string): Outcome => ({ runbook: t.runbook, workflowId, ok, says, seconds: seconds() });
  if (r.closed) {
    const why = v?.lastError ? `: ${v.lastError}` : '';
    // Completed is fine for a runbook that has gates too: a lab that already went through them (the SNO
    // standby undeployed by an earlier backup) has nothing left to ask about.
    return out(
      r.closed === 'COMPLETED',
      `${r.closed.toLowerCase()}${why}${t.expect === 'gate' && r.closed === 'COMPLETED' ? ' (no gate was needed on this lab)' : ''}`,
    );
  }
  if (v?.parked) {
    // Aborted, so that it gives its hosts' leases back to the next runbook.
    await h.executeUpdate('decide', { args: [await asBob(c, h, { decision: 'abort' }, 'tour-check: parked')] }).catch(() => undefined);
    return out(false, `parked at "${v.parked.step}": ${v.parked.error}`);
  }
  if (!v?.openGate) return out(false, `still ${v?.status ?? 'running'} at "${v?.currentStep ?? '?'}" after ${seconds()} s`);
  const first = v.openGate.name;
  if (t.thenFinish) {
    for (let g: RunbookView['openGate'] = v.openGate; g;) {
      await h.executeUpdate('approve', { args: [await asBob(c, h, { gate: g.name, verdict: 'approve' }, 'tour-check: finishing for the next runbook')] });
      const next = await settle(h, 10 * 60_000);
      if (next.closed) return out(next.closed === 'COMPLETED', `first gate ${first}; approved through: ${next.closed.toLowerCase()}`);
      if (next.view?.parked) return out(false, `first gate ${first}; then parked at "${next.view.parked.step}": ${next.view.parked.error}`);
      g = next.view?.openGate;
    }
    return out(false, `first gate ${first}; then did not finish`);
  }
  await h.executeUpdate('reject', { args: [await asBob(c, h, { gate: first, verdict: 'reject' }, 'tour-check: first gate reached')] });
  await h.result().catch(() => undefined);
  return out(true, `waited at its first gate "${first}" (rejected afterwards)`);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const viaUi = args.includes('--ui');
  const only = args.filter((a) => a !== '--ui');
  const c = await connectClient();
  const ui = viaUi ? await byWebUi(c) : undefined;
  const start = ui?.start ?? byClient(c);
  const families = Object.entries(FAMILIES).filter(([f]) => only.length === 0 || only.includes(f));
  const t0 = Date.now();
  const results = await Promise.all(
    families.map(async ([family, tries]) => {
      const done: Outcome[] = [];
      for (const t of tries) {
        const o = await tryOne(c, t, start).catch((err: Error) => ({
          runbook: t.runbook,
          workflowId: '-',
          ok: false,
          says: `error: ${err.message}`,
          seconds: 0,
        }));
        console.log(`${o.ok ? 'ok  ' : 'FAIL'} ${family.padEnd(9)} ${o.runbook.padEnd(22)} ${String(o.seconds).padStart(4)} s  ${o.says}  (${o.workflowId})`);
        done.push(o);
      }
      return done;
    }),
  );
  await ui?.close();
  await c.connection.close();
  const all = results.flat();
  const bad = all.filter((o) => !o.ok);
  console.log(
    `${all.length - bad.length} of ${all.length} runbooks${viaUi ? ', started from the Web UI,' : ''} ended Completed or at their first gate, in ${Math.round((Date.now() - t0) / 1000)} s`,
  );
  return bad.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
