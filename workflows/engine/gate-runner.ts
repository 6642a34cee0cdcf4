// A gate: the plan of the steps it guards (rendered from what they will execute), its fingerprint,
// waiting for verdicts under the gate's policy, reminders and timeouts.
import { condition, log } from '@temporalio/workflow';
import { adminAs } from './admin-activities.js';
import { Abort } from './failures.js';
import { clipText, type Approval, type ApprovalRecord } from './messages.js';
import { bindingOf, fingerprintOf } from './plan.js';
import { approvalRefusal, gatePolicy } from './policy.js';
import { contextOf, unlessMissing, type RunState } from './state.js';
import { planOf } from './step-runner.js';
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
  s.openGate = { name: g.name, fingerprint, plan: plan.lines, policy, approvals: [] };
  s.view.openGate = {
    name: g.name,
    plan: plan.lines,
    fingerprint,
    approvers: policy.approvers,
    quorum: policy.quorum,
    fourEyes: policy.fourEyes,
    approvals: [],
    openedAt: new Date().toISOString(),
  };
  setStatus(s, 'AwaitingApproval', g.name);
  notify(s, 'awaiting-approval', `gate "${g.name}" awaits approval (fingerprint ${fingerprint})`);
  let deadlinePassed = false;
  for (;;) {
    const wait = deadlinePassed ? policy.remindEvery : policy.timeout;
    const acted = await condition(() => s.pendingVerdicts.length > 0, wait, {
      summary: `gate ${g.name}: ${deadlinePassed ? 'next reminder' : `${policy.onTimeout} after`} ${wait}`,
    });
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
    // Re-checked here for both paths: a signal is not validated on arrival, and an Update accepted
    // a moment ago may have been overtaken by another verdict on the same gate.
    const why = approvalRefusal(p.approval, s.openGate, policy, s.view.requestedBy);
    if (why) {
      ignore(s, 'approval', p.approval, why);
      s.pendingVerdicts.shift();
      continue;
    }
    if (policy.signed) {
      const ok = await adminAs(`check the signature of ${p.approval.approver} on gate ${g.name}`).verifyApprovalSignature({
        workflowId: s.info.workflowId,
        gate: g.name,
        fingerprint,
        approver: p.approval.approver,
        signature: p.approval.signature ?? '',
      });
      if (!ok.valid) {
        ignore(s, 'approval', p.approval, `signature refused: ${ok.reason}`);
        s.pendingVerdicts.shift();
        continue;
      }
    }
    record(s, p.approval, p.verdict, p.via);
    s.pendingVerdicts.shift();
    if (p.verdict === 'rejected') break;
    s.openGate.approvals.push(p.approval.approver);
    s.view.openGate.approvals.push(p.approval.approver);
    if (s.openGate.approvals.length >= policy.quorum) break;
    refresh(s);
  }
  const rejected = s.view.approvals.filter((r) => r.gate === g.name && r.verdict === 'rejected').slice(-1)[0];
  for (const late of s.pendingVerdicts.splice(0)) ignore(s, 'approval', late.approval, `gate "${g.name}" was already decided`);
  s.openGate = undefined;
  s.view.openGate = undefined;
  setStatus(s, 'Running');
  if (rejected) throw new Abort(`gate "${g.name}" rejected by ${rejected.approver}: ${rejected.reason ?? ''}`);
  for (const [step, fp] of plan.steps) s.approvedPlans.set(step, fp);
}

function record(s: RunState, a: Approval, verdict: 'approved' | 'rejected', via: ApprovalRecord['via']): void {
  const rec: ApprovalRecord = {
    gate: a.gate,
    approver: a.approver,
    ...(a.reason !== undefined ? { reason: clipText(a.reason) } : {}),
    fingerprint: s.openGate?.fingerprint,
    verdict,
    at: new Date().toISOString(),
    via,
  };
  s.view.approvals.push(rec);
  log.info('gate verdict', { ...rec });
}
