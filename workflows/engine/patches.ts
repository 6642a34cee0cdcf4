// A step added to a procedure that already has runs in flight (or recorded histories) must not appear in
// their replay: `since(patch)` holds only for runs that reach the step on a build that has it. The decision
// is Temporal's patched(): a marker in new histories, false on replay of one without it. A step whose patch
// condition does not hold is left out altogether (not listed, not in a gate's plan or fingerprint), so an
// old run replays and shows exactly what it ran; `.before()` keeps the step it replaces for those runs.
import { patched } from '@temporalio/workflow';
import type { Condition, RunContext } from './context.js';
import type { AnyStep } from './steps.js';

export interface PatchCondition<I> extends Condition<I> {
  patch: string;
  /** The complement: the step an older build ran in the new step's place. */
  before(says: string): PatchCondition<I>;
}

/** Holds for runs that reach the step on a build with `id`; the first answer is kept for the run. */
export function since<I>(id: string, says: string): PatchCondition<I> {
  let decided: boolean | undefined;
  const has = (): boolean => (decided ??= patched(id));
  return {
    says,
    patch: id,
    holds: has,
    before: (older) => ({ says: older, patch: id, holds: () => !has(), before: () => since<I>(id, says) }),
  };
}

/** A step a patch leaves out of this run: its condition is a patch's, and does not hold. */
export function leftOut(e: AnyStep, ctx: RunContext<unknown>): boolean {
  const when = e.opts.when;
  return Boolean(when && 'patch' in when && !when.holds(ctx));
}
