// How a step's failure is classified: which failures end the run at once, which are not worth retrying,
// and the one-line reason an operator reads.
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';

/** Not retried by the activity's own policy: retrying cannot change the answer. */
export const NON_RETRYABLE = ['CommandFailed', 'HostKeyMismatch', 'UnknownHost', 'InvalidCommand', 'CheckFailed', 'CommandLost'];

/** A changed host key or a host missing from the inventory cannot be fixed by retrying this run. */
export const FATAL = ['HostKeyMismatch', 'UnknownHost', 'InvalidCommand', 'InvalidConfig'];

/** The operator's abort or a rejected gate: the run stops, cleans up and ends Aborted. */
export class Abort extends Error {}
/** The operator's restart: the run goes back to its restart point. */
export class Restart extends Error {}

/** A step that ran out of time: its activity's time limit, or the host-side `timeout` of its command (exit 124). */
export function isTimeout(err: unknown): boolean {
  if (err instanceof ActivityFailure) return isTimeout(err.cause);
  if (err instanceof TimeoutFailure) return true;
  return err instanceof ApplicationFailure && err.type === 'CommandFailed' && /: timed out after \d+s/.test(err.message);
}

export function failureType(err: unknown): string | undefined {
  if (err instanceof ActivityFailure) return failureType(err.cause);
  if (err instanceof ApplicationFailure) return err.type ?? undefined;
  return undefined;
}

export function errorText(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return errorText(err.cause);
  if (err instanceof Error) return err.message;
  return String(err);
}

export function checkFailed(why: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`check failed: ${why}`, 'CheckFailed');
}

/**
 * A refused Update (wrong approver, stale fingerprint, nothing parked): the one sentence the person reads in
 * the Web UI's Update dialog or the CLI. No stack: it would show the worker's source paths, which say nothing
 * to the approver.
 */
export function refusal(why: string, type = 'Refused'): ApplicationFailure {
  const f = ApplicationFailure.create({ message: why, type, nonRetryable: true });
  f.stack = '';
  return f;
}
