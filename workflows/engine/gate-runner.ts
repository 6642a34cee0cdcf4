// A gate: the plan of the steps it guards (rendered from what they will execute), its fingerprint,
// waiting for verdicts under the gate's policy, reminders and timeouts.
import { condition, log, patched, uuid4 } from '@temporalio/workflow';
import { Abort } from './failures.js';
import { clipText, type Approval, type ApprovalRecord } from './messages.js';
import { bindingOf, fingerprintOf } from './plan.js';
import { identify, type Identified } from './identity.js';
import { approverRefusal, gatePolicy, openGateRefusal, REFUSALS_AT_ARRIVAL_PATCH, verdictShapeRefusal, type GatePolicy } from './policy.js';
import { howToProve, verdictWord } from './proofs.js';
import { contextOf, unlessMissing, type PendingVerdict, type RunState } from './state.js';
import { planOf } from './step-runner.js';
import { leftOut } from './patches.js';
import type { AnyStep, Gate } from './steps.js';
import { ignore, notify, refresh, setStatus } from './visibility.js';

interface GatePlan {
  lines: string[];
  fingerprint: string;
  /** Fingerprint of each guarded step's commands, where they are known now. */
  steps: Map<AnyStep, string>;
}

/** What approving this gate runs: its note, then each guarded step with its commands, up to the next gate. */
export function gatePlan(s: RunState, g: Gate<unknown>, index: number): GatePlan {
  const guarded = new Set<object>(s.entries.slice(index + 1));
  const ctx = contextOf(s, guarded);
  const lines = unlessMissing(
    () => g.note?.(ctx) ?? [],
    (err) => [`(details depend on the result of step "${err.step}")`],
  );
  const exact: unknown[] = [{ gate: g.name, note: lines }];
  const steps = new Map<AnyStep, string>();
  for (let j = index + 1; j < s.entries.length; j++) {
    const next = s.entries[j]!;
    if (next.type === 'gate') break;
    if (leftOut(next, ctx)) continue;
    const p = planOf(s, next, guarded);
    const tag = next.opts.danger ? ' [DANGER]' : next.effect === 'read' ? ' [read-only]' : '';
    lines.push(`${next.name}${tag}:`, ...(p.condition ? [`  (${p.condition})`] : []), ...p.commands.map((c) => `  ${c}`));
    exact.push({ step: next.name, effect: next.effect, condition: p.condition ?? null, runs: p.canonical ?? p.commands });
    if (p.canonical !== undefined && !p.skipped) steps.set(next, bindingOf(p.canonical));
  }
  return { lines, fingerprint: fingerprintOf(exact), steps };
}

export async function runGate(s: RunState, g: Gate<unknown>, index: number): Promise<void> {
  if (g.when) {
    const open = unlessMissing<boolean>(
      () => g.when!.holds(contextOf(s)),
      (err) => {
        // A dry run decides on results of steps that were only planned: plan the gate.
        if (!s.view.dryRun) throw err;
        return true;
      },
    );
    if (!open) return;
  }
  const plan = gatePlan(s, g, index);
  const { fingerprint } = plan;
  if (s.view.dryRun) {
    s.mutationPlanned = true;
    s.plan.push({
      kind: 'gate',
      name: g.name,
      ...(g.when ? { condition: `only if ${g.when.says}` } : {}),
      commands: [`approval required; plan fingerprint ${fingerprint}`],
    });
    return;
  }
  const policy = gatePolicy(s.policy!, g.name);
  // This opening's nonce: a proof signed for it decides nothing at any other opening (after a restart the
  // gate opens again with a new one), and a verdict queued before it existed is never counted.
  const nonce = uuid4();
  const refuseAtArrival = patched(REFUSALS_AT_ARRIVAL_PATCH);
  s.openGate = { name: g.name, fingerprint, plan: plan.lines, policy, approvals: [], identities: [], nonce, refuseAtArrival };
  s.view.openGate = {
    name: g.name,
    plan: plan.lines,
    fingerprint,
    approvers: policy.approvers,
    quorum: policy.quorum,
    fourEyes: policy.fourEyes,
    approvals: [],
    openedAt: new Date().toISOString(),
    nonce,
    runId: s.info.runId,
  };
  setStatus(s, 'AwaitingApproval', g.name);
  notify(s, 'awaiting-approval', `gate "${g.name}" awaits approval (fingerprint ${fingerprint})`);
  let deadlinePassed = false;
  for (;;) {
    const wait = deadlinePassed ? policy.remindEvery : policy.timeout;
    // A verdict already queued is judged at once: no timer started and cancelled per verdict.
    const acted =
      (refuseAtArrival && s.pendingVerdicts.length > 0) ||
      (await condition(() => s.pendingVerdicts.length > 0, wait, {
        summary: `gate ${g.name}: ${deadlinePassed ? 'next reminder' : `${policy.onTimeout} after`} ${wait}`,
      }));
    if (!acted) {
      if (policy.onTimeout === 'reject') {
        record(s, { gate: g.name, approver: 'timeout', reason: `no decision within ${policy.timeout}` }, 'rejected', 'timeout');
        break;
      }
      deadlinePassed = true;
      notify(s, 'reminder', `gate "${g.name}" still awaits approval`);
      continue;
    }
    const p = s.pendingVerdicts[0]!;
    const outcome = await judge(s, p, policy);
    s.pendingVerdicts.shift();
    if ('why' in outcome) {
      ignore(s, 'approval', p.approval, outcome.why);
      p.outcome = outcome;
      continue;
    }
    const rec = record(s, { ...p.approval, approver: outcome.approver }, p.verdict, p.via, outcome);
    p.outcome = { record: rec };
    if (p.verdict === 'rejected') break;
    s.openGate.approvals.push(outcome.approver);
    if (outcome.proven) s.openGate.identities.push(outcome.proven.identity);
    s.view.openGate.approvals.push(outcome.unverified ? `${outcome.approver} (UNVERIFIED)` : outcome.approver);
    if (s.openGate.approvals.length >= policy.quorum) break;
    refresh(s);
  }
  const rejected = s.view.approvals.filter((r) => r.gate === g.name && r.verdict === 'rejected').slice(-1)[0];
  for (const late of s.pendingVerdicts.splice(0)) {
    const why = `gate "${g.name}" was already decided`;
    ignore(s, 'approval', late.approval, why);
    late.outcome = { why };
  }
  s.openGate = undefined;
  s.view.openGate = undefined;
  setStatus(s, 'Running');
  if (rejected) throw new Abort(`gate "${g.name}" rejected by ${rejected.approver}: ${rejected.reason ?? ''}`);
  for (const [step, fp] of plan.steps) s.approvedPlans.set(step, fp);
}

/**
 * Why a verdict cannot count, decided as it arrives without awaiting anything: no proof where one is
 * required, or (where unverified names are allowed) a name the policy refuses. A proof still needs its
 * verifying activity, in the gate loop.
 */
export function arrivalRefusal(s: RunState, a: Approval): string | undefined {
  const open = s.openGate;
  if (!open?.refuseAtArrival || a.proof !== undefined) return undefined;
  if (!open.policy.allowUnverifiedApprovers) return `no proof of identity: ${howToProve(s.info.workflowId, open.name)}`;
  return approverRefusal({ approver: String(a.approver), fingerprint: a.fingerprint }, open, open.policy, s.view.requestedBy);
}

/** Whether one verdict counts at the open gate: still this opening, a proof bound to it, allowed by the policy. */
async function judge(s: RunState, p: PendingVerdict, policy: GatePolicy): Promise<Identified> {
  const open = s.openGate!;
  const a = p.approval;
  const shape = verdictShapeRefusal(a) ?? openGateRefusal(a.gate, open);
  if (shape) return { why: shape };
  if (p.nonce !== open.nonce) return { why: `sent before gate "${open.name}" opened this time: a verdict counts only for the gate open when it arrives` };
  const who = await identify(
    { name: typeof a.approver === 'string' ? a.approver : undefined, proof: a.proof },
    {
      namespace: s.info.namespace,
      workflowId: s.info.workflowId,
      runId: s.info.runId,
      gate: open.name,
      gateNonce: open.nonce,
      verdict: verdictWord(p.verdict),
      fingerprint: open.fingerprint,
    },
    policy,
    howToProve(s.info.workflowId, open.name),
  );
  if ('why' in who) return who;
  // The gate may have been decided by another verdict while the proof was being checked.
  if (s.openGate !== open) return { why: `gate "${open.name}" was already decided` };
  const why = approverRefusal({ approver: who.approver, identity: who.proven?.identity, fingerprint: a.fingerprint }, open, policy, s.view.requestedBy);
  return why ? { why } : who;
}

function record(
  s: RunState,
  a: Pick<Approval, 'gate' | 'approver' | 'reason'>,
  verdict: 'approved' | 'rejected',
  via: ApprovalRecord['via'],
  who?: { proven?: ApprovalRecord['proven']; unverified?: true },
): ApprovalRecord {
  const rec: ApprovalRecord = {
    gate: a.gate,
    approver: a.approver,
    ...(a.reason !== undefined ? { reason: clipText(a.reason) } : {}),
    fingerprint: s.openGate?.fingerprint,
    verdict,
    at: new Date().toISOString(),
    via,
    ...(who?.proven ? { proven: who.proven } : {}),
    ...(who?.unverified ? { unverified: true as const } : {}),
  };
  s.view.approvals.push(rec);
  log.info(rec.unverified ? 'gate verdict UNVERIFIED' : 'gate verdict', { ...rec });
  return rec;
}
