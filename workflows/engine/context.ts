// What a step's builder, parser and check see of the run: its input, a few facts of the run, and the
// values of steps that already ran, reached through their handles (never by label).
import type { CommonInput } from './definition.js';

export interface RunContext<I> {
  input: I & CommonInput;
  dryRun: boolean;
  workflowId: string;
  runId: string;
  /** When this run started (deterministic): dated names, e.g. backup bundles. */
  startedAt: Date;
  /** How often an operator restarted the run from its restart point (0 on the first pass). */
  restarts: number;
  /** When the current phase was entered (or re-entered after an operator's decision): phase deadlines. */
  phaseSince: Date;
  /** The value of a step that ran (use `handle.value(ctx)`); throws MissingResult if it has not. */
  resultOf(step: object): unknown;
  /** Whether a step produced a value in this run (a skipped or conditional step may not have). */
  hasResult(step: object): boolean;
}

/** A step's value was asked for before the step ran: in a dry run, or a condition of a skipped step. */
export class MissingResult extends Error {
  constructor(readonly step: string) {
    super(`no result yet for step "${step}"`);
  }
}

/** A condition that decides whether a step runs or a gate opens, with the words the plan shows. */
export interface Condition<I> {
  says: string;
  holds(ctx: RunContext<I>): boolean;
}

/** `onlyIf('the bundle is encrypted', (ctx) => …)`: the step runs only when it holds, else it is recorded as skipped. */
export function onlyIf<I>(says: string, holds: (ctx: RunContext<I>) => boolean): Condition<I> {
  return { says, holds };
}
