// The messages every run answers: status query, approve/reject Updates and the approval Signal, the
// decide Update and the decision Signal. A verdict is taken only while its gate is open (one that
// arrives before or after is recorded as ignored, with why) and counted by the gate once its proof
// is verified; a decision likewise by the parked step.
import { condition, setHandler } from '@temporalio/workflow';
import { refusal } from './failures.js';
import { decisionArrivalRefusal, decisionRefusal } from './decisions.js';
import {
  approvalSignal,
  approveUpdate,
  decideUpdate,
  decisionSignal,
  rejectUpdate,
  statusQuery,
  type Approval,
  type ApprovalRecord,
  type Decision,
} from './messages.js';
import { arrivalRefusal } from './gate-runner.js';
import { openGateRefusal, verdictShapeRefusal } from './policy.js';
import type { PendingDecision, PendingVerdict, RunState } from './state.js';
import { ignore } from './visibility.js';

const refused = (message: string) => refusal(message, 'ApprovalRefused');

export function registerHandlers(s: RunState): void {
  setHandler(statusQuery, () => s.view, { description: 'Runbook, requester, state, steps, open gate, last error.' });
  /** Queued for the gate open now, or ignored at once: never kept for a gate that opens later. */
  const take = (a: Approval, verdict: 'approved' | 'rejected', via: 'update' | 'signal'): PendingVerdict | string => {
    // O(1) and nothing awaited: a flood of signals that cannot count never reaches the gate loop.
    const why = verdictShapeRefusal(a) ?? openGateRefusal(a.gate, s.openGate) ?? arrivalRefusal(s, a);
    if (why) {
      ignore(s, 'approval', a, why);
      return why;
    }
    const p: PendingVerdict = { approval: a, verdict, via, nonce: s.openGate!.nonce };
    s.pendingVerdicts.push(p);
    return p;
  };
  const accept =
    (verdict: 'approved' | 'rejected') =>
    async (a: Approval): Promise<ApprovalRecord> => {
      const p = take(a, verdict, 'update');
      if (typeof p === 'string') throw refused(p);
      await condition(() => p.outcome !== undefined);
      const o = p.outcome!;
      if ('why' in o) throw refused(o.why);
      return o.record;
    };
  // Only the shape is checked before history: a verdict for a gate that is not open is recorded as ignored.
  const validate = (a: Approval): void => {
    const why = verdictShapeRefusal(a);
    if (why) throw refusal(why);
  };
  setHandler(approveUpdate, accept('approved'), {
    validator: validate,
    description:
      'Approve the open gate: {"gate": "<name>", "reason": "<why>", "proof": {…}} (`npx runbook approve` signs; the Web UI through the codec server).',
  });
  setHandler(rejectUpdate, accept('rejected'), {
    validator: validate,
    description: 'Reject the open gate (the run stops and cleans up): {"gate", "reason", "proof"}.',
  });
  setHandler(
    approvalSignal,
    (a) => {
      take(a, a?.verdict === 'reject' ? 'rejected' : 'approved', 'signal');
    },
    { description: 'Durable verdict, works while no worker is up: {"gate", "reason", "proof", "verdict": "approve"|"reject"}.' },
  );
  const queue = (d: Decision): PendingDecision | string => {
    const why = decisionRefusal(s, d) ?? decisionArrivalRefusal(s, d);
    if (why) return why;
    const p: PendingDecision = { decision: d, nonce: s.parked!.nonce };
    s.pendingDecisions.push(p);
    return p;
  };
  setHandler(
    decideUpdate,
    async (d: Decision) => {
      const p = queue(d);
      if (typeof p === 'string') throw refused(p);
      await condition(() => p.outcome !== undefined);
      if ('why' in p.outcome!) throw refused(p.outcome.why);
      return `${d.decision} accepted`;
    },
    {
      validator: (d: Decision): void => {
        const why = decisionRefusal(s, d);
        if (why) throw refusal(why);
      },
      description: 'Decide a parked step: {"decision": "retry"|"skip"|"abort"|"restart", "reason": "<why>", "proof": {…}} (`npx runbook decide` signs).',
    },
  );
  setHandler(
    decisionSignal,
    (d) => {
      const p = queue(d);
      if (typeof p === 'string') ignore(s, 'decision', d, p);
    },
    { description: 'Durable decision for a parked step: {"decision": "retry"|"skip"|"abort"|"restart", "reason", "proof"}.' },
  );
}
