// The words a procedure is written in: read, change, once (the three kinds of step), gate, and activity
// (for a step that is more than commands). Each step is a handle whose value is typed by its parser, so
// later steps reach it as `manifest.value(ctx)`; its name is only a label.
import type { RunbookActivities } from '../../activities/index.js';
import type { Command, CommandResult } from './commands.js';
import { MissingResult, type Condition, type RunContext } from './context.js';

/**
 * What running a step again means. `read` changes nothing: it runs in dry runs, is retried, and its
 * checks decide before anything changes. `change` has the same effect when run twice: retried, then
 * parked. `once` must never run twice: the host-side run key attaches a new attempt to the first one.
 */
export type Effect = 'read' | 'change' | 'once';

export type ActivityName = keyof RunbookActivities;
export type ActivityRequest<K extends ActivityName> = Parameters<RunbookActivities[K]>[0];
export type ActivityValue<K extends ActivityName> = Awaited<ReturnType<RunbookActivities[K]>>;

/** A call of one activity with its exact request: what the plan shows and the fingerprint covers. */
export interface ActivityCall<K extends ActivityName = ActivityName> {
  kind: 'activity';
  activity: K;
  request: ActivityRequest<K>;
  /** Lines for the plan, derived from the request by the step library that builds the call. */
  shows?: string[];
}

/** `activity('openstackServer', { cloud, server }, (r) => [...])`: the plan lines come from the request itself. */
export function activity<K extends ActivityName>(name: K, request: ActivityRequest<K>, show?: (r: ActivityRequest<K>) => string[]): ActivityCall<K> {
  return { kind: 'activity', activity: name, request, shows: show?.(request) };
}

export type Runnable = Command | Command[] | ActivityCall;

/** What a step's runnable yields before its parser: the commands' results, or the activity's value. */
export type RawOf<R> = R extends ActivityCall<infer K> ? ActivityValue<K> : CommandResult[];

export interface StepOptions<I, R, T> {
  /** Turns what ran into the value later steps use; throwing here fails the step. */
  parse?(raw: R, ctx: RunContext<I>): T;
  /**
   * Makes the step a check: return a reason to fail it. A check can be retried or aborted when it parks,
   * never skipped (what follows is only safe once it passed).
   */
  expect?(value: T, ctx: RunContext<I>): string | undefined;
  /** A failed check ends the run as Failed instead of parking it: its finding is the answer. */
  verdict?: boolean;
  when?: Condition<I>;
  /** Per-attempt time limit, e.g. '2h' (default: 1 hour; quick steps 1 minute). */
  timeout?: string;
  /** The run's visible phase (search attribute RunbookPhase) from this step on. */
  phase?: string;
  /** Shown as dangerous in plans and details. */
  danger?: boolean;
  /**
   * Done in seconds: a repeatable step's remote commands run as local activities inside the workflow task,
   * exec'd straight on the pooled SSH connection (activities/ssh/quick-command.ts). A `once` step's remote
   * commands run as local activities too, but still under the host's run-key protocol, so a re-run after a
   * crash or a reset re-attaches instead of starting them again; its time limit is a minute unless `timeout`
   * says otherwise, and a long one-shot command (a backup, an upload) must not be quick: a local activity
   * holds its workflow task while it runs.
   */
  quick?: boolean;
}

export interface Step<I, T = unknown> {
  type: 'step';
  name: string;
  effect: Effect;
  build(ctx: RunContext<I>): Runnable;
  opts: StepOptions<I, unknown, T>;
  /** This step's value in the run (throws MissingResult until it ran). */
  value(ctx: RunContext<unknown>): T;
  /** This step's value, or undefined when it was skipped or has not run. */
  valueIfRan(ctx: RunContext<unknown>): T | undefined;
}

export interface Gate<I> {
  type: 'gate';
  name: string;
  /** Extra lines for the plan shown at the gate, before the commands of the steps it guards. */
  note?(ctx: RunContext<I>): string[];
  when?: Condition<I>;
}

export type Entry<I> = Step<I, unknown> | Gate<I>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a step of any input: handles cross procedures
export type AnyStep = Step<any, unknown>;

function define(effect: Effect) {
  return <I, B extends Runnable, T = RawOf<B>>(name: string, build: (ctx: RunContext<I>) => B, opts: StepOptions<I, RawOf<B>, T> = {}): Step<I, T> => {
    const s: Step<I, T> = {
      type: 'step',
      name,
      effect,
      build,
      opts: opts as StepOptions<I, unknown, T>,
      value: (ctx) => {
        if (!ctx.hasResult(s)) throw new MissingResult(name);
        return ctx.resultOf(s) as T;
      },
      valueIfRan: (ctx) => (ctx.hasResult(s) ? (ctx.resultOf(s) as T) : undefined),
    };
    return s;
  };
}

/** A step that changes nothing (reads, checks, verifications). */
export const read = define('read');
/** A step that changes something and has the same effect when run again. */
export const change = define('change');
/** A step that must never run twice (a DROP, a reboot, a delete). */
export const once = define('once');

/** A human approval before what follows. The plan shown is the commands of the steps up to the next gate. */
export function gate<I>(name: string, note?: (ctx: RunContext<I>) => string[], opts: { when?: Condition<I> } = {}): Gate<I> {
  return { type: 'gate', name, note, when: opts.when };
}

/** A step that checks something: it may not be skipped. */
export function isCheck(s: AnyStep): boolean {
  return Boolean(s.opts.expect);
}
