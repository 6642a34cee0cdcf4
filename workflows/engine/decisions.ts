// Parking: a failed step waits for an operator's decision (retry, skip, abort, restart), and the rules
// that refuse a decision that would be unsafe here or that comes from someone without authority: the
// deciders are the approvers of the runbook's policy (four-eyes applies), proven like a verdict.
import { condition, patched, uuid4 } from '@temporalio/workflow';
import { identify } from './identity.js';
import type { Decision, DecisionRecord } from './messages.js';
import { fingerprintOf } from './plan.js';
import { approverRefusal, REFUSALS_AT_ARRIVAL_PATCH } from './policy.js';
import { decideHowTo } from './details.js';
import type { PendingDecision, RunState } from './state.js';
import { isCheck, type AnyStep } from './steps.js';
import { ignore, notify, setStatus } from './visibility.js';

/** What a decision on this parking is signed over: the step and the error the operator saw. */
export function parkingFingerprint(step: string, error: string): string {
  return fingerprintOf({ step, error });
}

export async function park(s: RunState, step: AnyStep, index: number, error: string): Promise<Decision> {
  const nonce = uuid4();
  const fingerprint = parkingFingerprint(step.name, error);
  s.parked = { step, index, nonce, refuseAtArrival: patched(REFUSALS_AT_ARRIVAL_PATCH) };
  s.view.parked = { step: step.name, error, nonce, fingerprint, runId: s.info.runId };
  setStatus(s, 'Parked');
  notify(s, 'parked', `step "${step.name}" failed and is parked: ${error}`);
  for (;;) {
    await condition(() => s.pendingDecisions.length > 0);
    const p = s.pendingDecisions[0]!;
    const outcome = await judge(s, p, fingerprint);
    s.pendingDecisions.shift();
    if ('why' in outcome) {
      ignore(s, 'decision', p.decision, outcome.why);
      p.outcome = outcome;
      continue;
    }
    p.outcome = { ok: true };
    const d: Decision = { decision: p.decision.decision, operator: outcome.operator, reason: p.decision.reason };
    s.view.decisions.push(outcome.record);
    for (const late of s.pendingDecisions.splice(0)) {
      ignore(s, 'decision', late.decision, `step "${step.name}" was already decided`);
      late.outcome = { why: `step "${step.name}" was already decided` };
    }
    s.parked = undefined;
    s.view.parked = undefined;
    setStatus(s, 'Running');
    return d;
  }
}

async function judge(s: RunState, p: PendingDecision, fingerprint: string): Promise<{ operator: string; record: DecisionRecord } | { why: string }> {
  const parked = s.parked!;
  if (p.nonce !== parked.nonce) return { why: `sent for an earlier parking of "${parked.step.name}"` };
  const again = decisionRefusal(s, p.decision);
  if (again) return { why: again };
  const policy = s.policy!.defaults;
  const d = p.decision;
  const who = await identify(
    { name: typeof d.operator === 'string' ? d.operator : undefined, proof: d.proof },
    {
      namespace: s.info.namespace,
      workflowId: s.info.workflowId,
      runId: s.info.runId,
      gate: `step:${parked.step.name}`,
      gateNonce: parked.nonce,
      verdict: d.decision,
      fingerprint,
    },
    policy,
    decideHowTo(s.info.workflowId, d.decision),
  );
  if ('why' in who) return who;
  if (s.parked !== parked) return { why: `step "${parked.step.name}" was already decided` };
  const why = approverRefusal(
    { approver: who.approver },
    { name: `step:${parked.step.name}`, fingerprint, approvals: [], identities: [] },
    policy,
    s.view.requestedBy,
  );
  if (why) return { why: why.replace(/^approver/, 'decider').replace('cannot approve it', 'cannot decide for it') };
  const record: DecisionRecord = {
    decision: d.decision,
    operator: who.approver,
    reason: d.reason,
    at: new Date().toISOString(),
    step: parked.step.name,
    ...(who.proven ? { proven: who.proven } : {}),
    ...(who.unverified ? { unverified: true as const } : {}),
  };
  return { operator: who.approver, record };
}

export function restartIndex(s: RunState): number {
  return s.restartFrom ? s.entries.indexOf(s.restartFrom) : -1;
}

/** As a verdict's (gate-runner.ts): what refuses a decision without a proof, decided as it arrives. */
export function decisionArrivalRefusal(s: RunState, d: Decision): string | undefined {
  const parked = s.parked;
  if (!parked?.refuseAtArrival || d.proof !== undefined) return undefined;
  const policy = s.policy!.defaults;
  if (!policy.allowUnverifiedApprovers) return `no proof of identity: ${decideHowTo(s.info.workflowId, d.decision)}`;
  const why = approverRefusal(
    { approver: String(d.operator) },
    { name: `step:${parked.step.name}`, fingerprint: '', approvals: [], identities: [] },
    policy,
    s.view.requestedBy,
  );
  return why?.replace(/^approver/, 'decider').replace('cannot approve it', 'cannot decide for it');
}

/** Why a decision cannot be taken now, or undefined. */
export function decisionRefusal(s: RunState, d: Decision): string | undefined {
  if (
    !d ||
    typeof d !== 'object' ||
    !['retry', 'skip', 'abort', 'restart'].includes(d.decision) ||
    (d.proof === undefined && (typeof d.operator !== 'string' || !d.operator))
  ) {
    return 'a decision is {"decision": "retry"|"skip"|"abort"|"restart", "reason": "<why>", "proof": {…}} (`npx runbook decide` signs it)';
  }
  const parked = s.parked;
  if (!parked || !s.view.parked) return 'nothing is parked';
  // Declared once for every check (a step with `expect`): nobody may skip one, whoever they are.
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
