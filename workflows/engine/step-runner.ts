// Runs one step: plans it in a dry run, decides its condition, runs its commands or its activity, checks
// its value, and parks it on failure until an operator decides (retry, skip, abort, restart).
import { ApplicationFailure, isCancellation, patched, proxyActivities, proxyLocalActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { RunbookActivities } from '../../activities/index.js';
import { lastLine, type CommandResult } from './commands.js';
import type { RunContext } from './context.js';
import { Abort, checkFailed, errorText, failureType, FATAL, isTimeout, NON_RETRYABLE, Restart } from './failures.js';
import { clipText, type StepRecord } from './messages.js';
import { park } from './decisions.js';
import { bindingOf, canonicalRunnable, renderCommand, renderRunnable, type PlanItem } from './plan.js';
import { contextOf, unlessMissing, type RunState } from './state.js';
import type { AnyStep, Runnable } from './steps.js';
import { refresh, setPhase } from './visibility.js';
import { leftOut } from './patches.js';
import { prefetchQuickRun, takePrefetched } from './quick-batch.js';

/** Marks runs whose `quick` steps run as local activities (histories before it used ordinary ones). */
const QUICK_STEPS_PATCH = 'quick-steps-local-activities';
/** Marks runs whose quick one-shot steps run as local activities under the run key (before, `quick` was ignored for them). */
const QUICK_ONCE_PATCH = 'quick-one-shot-local-activities';

const EFFECT_SHOWN: Record<AnyStep['effect'], NonNullable<PlanItem['effect']>> = { read: 'read-only', change: 'idempotent', once: 'once' };

/** The lines a step shows in a plan: its commands, or its condition and why it will not run. */
export function planOf(s: RunState, e: AnyStep, hidden?: Set<object>): { commands: string[]; condition?: string; skipped?: boolean; canonical?: unknown } {
  const ctx = contextOf(s, hidden);
  const cond = e.opts.when;
  if (cond) {
    const decided = unlessMissing<boolean | undefined>(
      () => cond.holds(ctx),
      () => undefined,
    );
    if (decided === false) return { commands: [], condition: `not run: ${cond.says} does not hold`, skipped: true };
    if (decided === undefined) {
      return { ...commandsOf(ctx, e), condition: `only if ${cond.says}` };
    }
  }
  return commandsOf(ctx, e);
}

function commandsOf(ctx: RunContext<unknown>, e: AnyStep): { commands: string[]; canonical?: unknown } {
  return unlessMissing(
    () => {
      const r = e.build(ctx);
      return { commands: renderRunnable(r), canonical: canonicalRunnable(r) };
    },
    (err) => ({ commands: [`(commands depend on the result of step "${err.step}")`] }),
  );
}

export async function runStep(s: RunState, e: AnyStep, index: number): Promise<void> {
  if (leftOut(e, contextOf(s))) {
    s.view.stepsDone++;
    return;
  }
  const effect = EFFECT_SHOWN[e.effect];
  const record: StepRecord = { index: s.view.steps.length + 1, name: e.name, state: 'running', attempts: 0 };
  s.view.steps.push(record);
  s.view.currentStep = e.name;
  if (s.view.dryRun) {
    const p = planOf(s, e);
    s.plan.push({
      kind: 'step',
      name: e.name,
      effect,
      ...(e.opts.danger ? { danger: true } : {}),
      ...(p.condition ? { condition: p.condition } : {}),
      commands: p.commands,
    });
    if (e.effect !== 'read' || s.mutationPlanned || p.skipped) {
      if (e.effect !== 'read') s.mutationPlanned = true;
      record.state = p.skipped ? 'skipped' : 'planned';
      s.view.stepsDone++;
      return;
    }
  }
  if (e.opts.when && !e.opts.when.holds(contextOf(s))) {
    record.state = 'skipped';
    record.lastOutput = `not needed for this run: ${e.opts.when.says} does not hold`;
    s.view.stepsDone++;
    return;
  }
  if (e.opts.phase && s.def.phases) setPhase(s, e.opts.phase);
  for (let decisionRound = 0; ; decisionRound++) {
    refresh(s);
    try {
      s.results.set(e, await attempt(s, e, record, decisionRound));
      record.state = 'ok';
      record.error = undefined;
      s.view.parked = undefined;
      s.view.stepsDone++;
      return;
    } catch (err) {
      if (isCancellation(err)) throw err;
      const type = failureType(err) ?? '';
      if (FATAL.includes(type) || (e.opts.verdict && type === 'CheckFailed')) {
        record.state = 'failed';
        record.error = errorText(err);
        throw err;
      }
      record.state = 'parked';
      record.error = errorText(err);
      s.view.audit.failed++;
      s.view.lastError = `${e.name}: ${record.error}`;
      if (s.def.phases) setPhase(s, isTimeout(err) ? s.def.phases.timeout : s.def.phases.error);
      const d = await park(s, e, index, record.error);
      if (s.def.phases && e.opts.phase) {
        // Continuing is a new window: a phase deadline counts from the decision, not from the first try.
        s.view.phase = undefined;
        setPhase(s, e.opts.phase);
      }
      if (d.decision === 'restart') {
        record.state = 'failed';
        record.error = `${record.error} (restarted from "${s.restartFrom?.name}" by ${d.operator})`;
        throw new Restart();
      }
      if (d.decision === 'skip') {
        record.state = 'skipped';
        s.view.stepsDone++;
        return;
      }
      if (d.decision === 'abort') throw new Abort(`${d.operator} aborted at step "${e.name}": ${clipText(d.reason ?? '')}`);
      record.state = 'running';
    }
  }
}

/** One try of a step; the run key of each command names this decision round, so a retry runs afresh. */
export async function attempt(s: RunState, e: AnyStep, record: StepRecord, decisionRound: number): Promise<unknown> {
  const ctx = contextOf(s);
  const repeatable = e.effect !== 'once';
  const built: Runnable = e.build(ctx);
  const approved = s.approvedPlans.get(e);
  if (approved !== undefined && approved !== bindingOf(canonicalRunnable(built))) {
    // What runs must be what was approved: a step whose commands were known at the gate runs only those.
    throw ApplicationFailure.nonRetryable(`step "${e.name}" would run something other than what its gate approved`, 'InvalidCommand');
  }
  let raw: unknown;
  if (!Array.isArray(built) && built.kind === 'activity') {
    record.attempts++;
    record.host = 'worker';
    record.command = renderRunnable(built)[0];
    const fn = proxyActivities<RunbookActivities>(activityOptions(e, repeatable, e.name, false))[built.activity] as (a: unknown) => Promise<unknown>;
    raw = await fn(built.request);
  } else {
    const commands = Array.isArray(built) ? built : [built];
    const out: CommandResult[] = [];
    const only = commands.length === 1 ? commands[0]! : undefined;
    const batchable = Boolean(e.opts.quick) && repeatable && decisionRound === 0 && only?.kind === 'remote';
    if (batchable) await prefetchQuickRun(s, e, s.entries.indexOf(e), record.index, workflowInfo().originalExecutionRunId);
    const prefetched = batchable ? takePrefetched(s, e, only) : undefined;
    for (let c = 0; c < commands.length; c++) {
      const cmd = commands[c]!;
      record.host = cmd.kind === 'remote' ? cmd.host : 'worker';
      record.command = renderCommand(cmd);
      record.attempts++;
      refresh(s);
      // The key names this execution on the host: an activity retry after a crash re-attaches to it
      // instead of starting it again; an operator's "retry" (a new decision round) starts it afresh.
      const runKey = `${record.index}.${c}.r${decisionRound}`;
      const summary = `${e.name}: ${record.command}`.slice(0, 200);
      const opts = activityOptions(e, repeatable, summary, cmd.kind === 'local');
      const req = { command: cmd, runKey, once: !repeatable, step: e.name, originalRunId: workflowInfo().originalExecutionRunId };
      // patched() last: it is only consulted (and its marker only written) where a quick step runs, so
      // histories from before quick steps replay on the ordinary path.
      const quick = Boolean(e.opts.quick) && repeatable && cmd.kind === 'remote' && patched(QUICK_STEPS_PATCH);
      // A quick one-shot command keeps the host's run-key protocol (never twice: a re-run after a crash
      // re-attaches) and saves only the activity task's trip through the server.
      const quickOnce = Boolean(e.opts.quick) && !repeatable && cmd.kind === 'remote' && patched(QUICK_ONCE_PATCH);
      const local =
        quick || quickOnce
          ? proxyLocalActivities<RunbookActivities>({ summary, startToCloseTimeout: e.opts.timeout ?? '1 minute', retry: opts.retry })
          : undefined;
      const res = prefetched
        ? prefetched
        : local && quick
          ? await local.runQuickCommand(req)
          : local
            ? await local.runCommand(req)
            : await proxyActivities<RunbookActivities>(opts).runCommand(req);
      record.exitCode = res.exitCode;
      record.durationMs = res.durationMs;
      record.auditRef = res.auditRef;
      record.lastOutput = lastLine(res.stdoutTail) || lastLine(res.stderrTail) || undefined;
      s.view.audit.commands++;
      s.view.audit.lastRef = res.auditRef;
      out.push(res);
    }
    raw = out;
  }
  const value = e.opts.parse ? e.opts.parse(raw, ctx) : raw;
  const why = e.opts.expect?.(value, ctx);
  if (why) throw checkFailed(why);
  return value;
}

function activityOptions(e: AnyStep, repeatable: boolean, summary: string, local: boolean): ActivityOptions {
  return {
    summary,
    startToCloseTimeout: e.opts.timeout ?? '1 hour',
    heartbeatTimeout: '20 seconds',
    retry: repeatable
      ? { maximumAttempts: 3, initialInterval: '2 seconds', nonRetryableErrorTypes: NON_RETRYABLE }
      : // Remote one-shot commands may be re-attempted: the host-side run key makes a new attempt
        // attach to the first one, never start it twice. A local process (or a worker-side activity
        // such as a stream) dies with its worker, so a one-shot one gets exactly one attempt.
        { maximumAttempts: local ? 1 : 10, initialInterval: '2 seconds', nonRetryableErrorTypes: NON_RETRYABLE },
  };
}

/** Cleanup steps after an abort or failure: best effort, never parked, each recorded. */
export async function runCleanup(s: RunState): Promise<void> {
  for (const c of s.cleanup) {
    const record: StepRecord = { index: s.view.steps.length + 1, name: `cleanup: ${c.name}`, state: 'running', attempts: 0 };
    s.view.steps.push(record);
    try {
      s.results.set(c, await attempt(s, c, record, 0));
      record.state = 'ok';
    } catch (err) {
      record.state = 'failed';
      record.error = errorText(err);
    }
  }
}
