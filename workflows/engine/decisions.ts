// Parking: a failed step waits for an operator's decision (retry, skip, abort, restart), and the rules
// that refuse a decision that would be unsafe here.
import { condition } from '@temporalio/workflow';
import type { Decision } from './messages.js';
import type { RunState } from './state.js';
import { isCheck } from './steps.js';
import { notify, setStatus } from './visibility.js';

export async function park(s: RunState, step: string, error: string): Promise<Decision> {
  s.view.parked = { step, error };
  setStatus(s, 'Parked');
  notify(s, 'parked', `step "${step}" failed and is parked: ${error}`);
  await condition(() => s.pendingDecision !== undefined);
  const d = s.pendingDecision!;
  s.view.decisions.push({ ...d, at: new Date().toISOString(), step });
  s.pendingDecision = undefined;
  s.view.parked = undefined;
  setStatus(s, 'Running');
  return d;
}

export function restartIndex(s: RunState): number {
  return s.restartFrom ? s.entries.indexOf(s.restartFrom) : -1;
}

/** Why a decision cannot be taken now, or undefined. */
export function decisionRefusal(s: RunState, d: Decision): string | undefined {
  if (!d || !['retry', 'skip', 'abort', 'restart'].includes(d.decision) || typeof d.operator !== 'string' || !d.operator) {
    return 'a decision is {"decision": "retry"|"skip"|"abort"|"restart", "operator": "<you>", "reason": "<why>"}';
  }
  const parked = s.parked;
  if (!parked || !s.view.parked) return 'nothing is parked';
  if (d.decision === 'skip' && isCheck(parked.step)) {
    return `step "${parked.step.name}" is a check and cannot be skipped: what follows is only safe once it passed; retry or abort`;
  }
  if (d.decision === 'restart') {
    const from = restartIndex(s);
    if (from < 0) return `${s.def.name} has no restart point; retry, skip or abort`;
    if (parked.index <= from) return `restart goes back to "${s.restartFrom?.name}", which this run has not passed yet; retry instead`;
  }
  return undefined;
}
