// One run from start to end: check the input, resolve hosts, load the policy, take the leases, walk the
// procedure's steps and gates, and on any failure or abort run the cleanup and release the leases.
import { allHandlersFinished, ApplicationFailure, CancellationScope, condition, isCancellation, upsertSearchAttributes } from '@temporalio/workflow';
import { adminAs } from './admin-activities.js';
import type { CommonInput, RunbookDefinition, RunbookResult } from './definition.js';
import { parseInput } from './definition.js';
import { restartIndex } from './decisions.js';
import { Abort, errorText, Restart } from './failures.js';
import { runGate } from './gate-runner.js';
import { registerHandlers } from './handlers.js';
import { acquireLeases, leaseHost, releaseLeases, type LeaseRequest } from './host-lease.js';
import { fingerprintOf } from './plan.js';
import { RunbookHosts, RunbookName } from './search-attributes.js';
import { contextOf, newRunState, unlessMissing, type RunState } from './state.js';
import { runCleanup, runStep } from './step-runner.js';
import type { AnyStep, Entry } from './steps.js';
import { ignore, refresh, setPhase, setStatus } from './visibility.js';

const present = <T>(e: T | null | false | undefined): e is T => Boolean(e);

export async function executeRun(def: RunbookDefinition, raw: unknown): Promise<RunbookResult> {
  const s = newRunState(def, raw);
  registerHandlers(s);
  s.input = parseInput(def.input(), raw) as CommonInput;
  s.view.requestedBy = s.input.requestedBy;
  s.view.requesterVerified = false;
  s.view.dryRun = Boolean(s.input.dryRun);
  const procedure = def.procedure(s.input);
  s.entries = procedure.steps.filter(present) as Entry<unknown>[];
  s.cleanup = (procedure.cleanup ?? []).filter(present) as AnyStep[];
  s.output = procedure.output as RunState['output'];
  s.restartFrom = procedure.restartFrom as Entry<unknown> | undefined;
  s.view.stepsTotal = s.entries.filter((e) => e.type === 'step').length;
  const hosts = def.hosts(s.input);
  upsertSearchAttributes([
    { key: RunbookName, value: def.name },
    { key: RunbookHosts, value: hosts },
  ]);
  setStatus(s, 'Running');
  try {
    await adminAs(`check the hosts: ${hosts.join(', ') || 'none'}`).resolveHosts({ hosts });
    s.policy = await adminAs(`load the approval policy of ${def.name}`).loadPolicy({ runbook: def.name });
    if (!s.view.dryRun) await takeLeases(s, def.leases?.(s.input) ?? []);
    await walk(s);
    const output = s.output
      ? unlessMissing(
          () => s.output!(contextOf(s)),
          (err) => {
            if (s.view.dryRun) return undefined;
            throw err;
          },
        )
      : undefined;
    if (def.phases) setPhase(s, def.phases.done);
    setStatus(s, 'Completed');
    return resultOf(s, output);
  } catch (err) {
    const aborted = err instanceof Abort;
    s.view.lastError = errorText(err);
    await CancellationScope.nonCancellable(() => runCleanup(s));
    setStatus(s, aborted || isCancellation(err) ? 'Aborted' : 'Failed');
    if (aborted) throw ApplicationFailure.nonRetryable(`aborted: ${(err as Error).message}`, 'Aborted');
    throw err;
  } finally {
    if (s.leased.locks.length) await CancellationScope.nonCancellable(() => releaseLeases(s.leased));
    // Messages that arrived too late to matter are answered (refused) so no handler is left dangling.
    for (const p of s.pendingVerdicts.splice(0)) {
      ignore(s, 'approval', p.approval, 'the run has ended');
      p.outcome = { why: 'the run has ended' };
    }
    for (const p of s.pendingDecisions.splice(0)) p.outcome = { why: 'the run has ended' };
    await condition(allHandlersFinished);
  }
}

async function takeLeases(s: RunState, leases: LeaseRequest[]): Promise<void> {
  if (!leases.length) return;
  s.view.waitingFor = `lease on ${[...new Set(leases.map(leaseHost))].join(', ')}`;
  refresh(s);
  await acquireLeases(
    leases,
    s.def.name,
    (msg) => {
      s.view.waitingFor = msg;
      refresh(s);
    },
    s.leased,
  );
  s.view.waitingFor = undefined;
}

async function walk(s: RunState): Promise<void> {
  for (let i = 0; i < s.entries.length; i++) {
    const e = s.entries[i]!;
    try {
      if (e.type === 'gate') await runGate(s, e, i);
      else await runStep(s, e, i);
    } catch (err) {
      if (!(err instanceof Restart)) throw err;
      // The operator's "restart": everything from the restart point runs again, as new steps with new
      // run keys (so one-shot commands really run again), and the gate there asks again.
      s.restarts++;
      s.prefetched.clear();
      i = restartIndex(s) - 1;
    }
  }
}

function resultOf(s: RunState, output?: unknown): RunbookResult {
  const r: RunbookResult = {
    runbook: s.def.name,
    status: s.view.status,
    dryRun: s.view.dryRun,
    steps: s.view.steps,
    approvals: s.view.approvals,
    output,
  };
  if (s.view.dryRun) {
    r.plan = s.plan;
    r.fingerprint = fingerprintOf(s.plan);
  }
  return r;
}
