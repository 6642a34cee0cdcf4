// Consecutive quick steps in one local activity. Each quick step costs a local activity round trip inside
// the workflow task (schedule, result marker, a new activation) on top of its command; a run of them whose
// commands are all known now is sent as one batch, each command still its own exec, audit record and step
// record. The batch stops before anything that must wait for an earlier step: a step whose build reads a
// member's result, a condition, a gate, a one-shot step, a step bound to a gate's approved plan; and after
// the first member with a check or a parser (what follows waits for its verdict). A member that does not
// succeed ends the batch; it and the rest run on their own, with their retries and parking.
import { isCancellation, patched, proxyLocalActivities } from '@temporalio/workflow';
import type { RunbookActivities } from '../../activities/index.js';
import type { CommandResult, RemoteCommand } from './commands.js';
import type { RunContext } from './context.js';
import { bindingOf, canonicalRunnable } from './plan.js';
import { contextOf, type RunState } from './state.js';
import type { AnyStep } from './steps.js';
import { MissingResult } from './context.js';

/** Marks runs whose consecutive quick steps may share a local activity (histories before it have one each). */
const QUICK_BATCH_PATCH = 'quick-step-batches';
/** A batch is one local activity: bounded, so its time limit stays that of a few quick steps. */
export const MAX_BATCH = 25;

export type Prefetched =
  | {
      result: CommandResult;
      /** The command it ran, so the step runs it only if its own build is still that command. */
      binding: string;
    }
  /** The member the batch stopped at: it runs on its own (its retries, then parking), never in a new batch. */
  | { stopped: true };

// A member keeps the quick step's default limit (1 minute): the batch's limit is one minute a member.
// A dry run runs only the reads before its first planned change: only those may join.
const joinable = (s: RunState, e: AnyStep): boolean =>
  Boolean(e.opts.quick) &&
  (s.view.dryRun ? e.effect === 'read' && !s.mutationPlanned : e.effect !== 'once') &&
  !e.opts.when &&
  !e.opts.timeout &&
  !s.approvedPlans.has(e) &&
  !s.prefetched.has(e);

/** The one remote command a step would run now, unless it needs a member's result (or has several). */
function commandNow(s: RunState, e: AnyStep, members: Set<object>): RemoteCommand | undefined {
  const ctx = contextOf(s);
  let touched = false;
  const probe: RunContext<unknown> = {
    ...ctx,
    hasResult: (x) => (members.has(x) ? ((touched = true), false) : ctx.hasResult(x)),
    resultOf: (x) => {
      if (members.has(x)) touched = true;
      return ctx.resultOf(x);
    },
  };
  let built;
  try {
    built = e.build(probe);
  } catch (err) {
    if (err instanceof MissingResult) return undefined;
    throw err;
  }
  if (touched) return undefined;
  const one = Array.isArray(built) ? (built.length === 1 ? built[0] : undefined) : built;
  return one?.kind === 'remote' ? one : undefined;
}

/**
 * Before `first` runs its first attempt: if it starts a run of at least two batchable quick steps, runs them
 * in one local activity and keeps each member's result for its own step. `index` is `first`'s place in
 * s.entries and `recordIndex` its step record's number (the members' records follow one by one).
 */
export async function prefetchQuickRun(s: RunState, first: AnyStep, index: number, recordIndex: number, originalRunId: string): Promise<void> {
  if (index < 0 || !joinable(s, first)) return;
  const members = new Set<object>();
  const run: { step: AnyStep; command: RemoteCommand }[] = [];
  for (let j = index; j < s.entries.length && run.length < MAX_BATCH; j++) {
    const e = s.entries[j]!;
    if (e.type === 'gate' || !joinable(s, e)) break;
    const command = commandNow(s, e, members);
    if (!command) break;
    run.push({ step: e, command });
    members.add(e);
    if (e.opts.expect || e.opts.parse) break;
  }
  if (run.length < 2 || !patched(QUICK_BATCH_PATCH)) return;
  const reqs = run.map((m, k) => ({
    command: m.command,
    runKey: `${recordIndex + k}.0.r0`,
    once: false,
    step: m.step.name,
    originalRunId,
  }));
  const summary = `${run.length} quick steps: ${run[0]!.step.name} … ${run[run.length - 1]!.step.name}`.slice(0, 200);
  let done: CommandResult[];
  try {
    done = await proxyLocalActivities<RunbookActivities>({
      summary,
      startToCloseTimeout: `${run.length} minutes`,
      retry: { maximumAttempts: 1 },
    }).runQuickCommands(reqs);
  } catch (err) {
    // Nothing kept: each member runs on its own, as without a batch.
    if (isCancellation(err)) throw err;
    return;
  }
  done.forEach((result, k) => s.prefetched.set(run[k]!.step, { result, binding: bindingOf(canonicalRunnable(run[k]!.command)) }));
  if (done.length < run.length) s.prefetched.set(run[done.length]!.step, { stopped: true });
}

/** The result a batch already has for this step's command, if the step's build is still that command. */
export function takePrefetched(s: RunState, e: AnyStep, command: RemoteCommand): CommandResult | undefined {
  const p = s.prefetched.get(e);
  if (!p) return undefined;
  s.prefetched.delete(e);
  if ('stopped' in p) return undefined;
  return bindingOf(canonicalRunnable(command)) === p.binding ? p.result : undefined;
}
