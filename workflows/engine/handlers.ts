// The messages every run answers: status query, approve/reject Updates and the approval Signal, the
// decide Update and the decision Signal. Verdicts are queued here and counted by the open gate.
import { condition, setHandler } from '@temporalio/workflow';
import { refusal } from './failures.js';
import { decisionRefusal } from './decisions.js';
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
import { approvalRefusal } from './policy.js';
import type { RunState } from './state.js';
import { ignore } from './visibility.js';

export function registerHandlers(s: RunState): void {
  setHandler(statusQuery, () => s.view, { description: 'Runbook, requester, state, steps, open gate, last error.' });
  const validate = (a: Approval): void => {
    const why = approvalRefusal(a, s.openGate, s.openGate?.policy, s.view.requestedBy);
    if (why) throw refusal(why);
  };
  const accept =
    (verdict: 'approved' | 'rejected') =>
    async (a: Approval): Promise<ApprovalRecord> => {
      s.pendingVerdicts.push({ approval: a, verdict, via: 'update' });
      const gateName = a.gate;
      await condition(() => !s.pendingVerdicts.some((p) => p.approval === a));
      const rec = s.view.approvals.filter((r) => r.gate === gateName && r.approver === a.approver).slice(-1)[0];
      if (!rec) {
        const why = s.view.ignored.filter((m) => m.by === a.approver).slice(-1)[0]?.why ?? 'not counted';
        throw refusal(why, 'ApprovalRefused');
      }
      return rec;
    };
  setHandler(approveUpdate, accept('approved'), {
    validator: validate,
    description: 'Approve the open gate: {"gate": "<name>", "approver": "<you>", "reason": "<why>"} (optional "fingerprint").',
  });
  setHandler(rejectUpdate, accept('rejected'), {
    validator: validate,
    description: 'Reject the open gate (the run stops and cleans up): {"gate", "approver", "reason"}.',
  });
  setHandler(
    approvalSignal,
    (a) => {
      s.pendingVerdicts.push({ approval: a, verdict: a?.verdict === 'reject' ? 'rejected' : 'approved', via: 'signal' });
    },
    { description: 'Durable approval, works while no worker is up: {"gate", "approver", "reason", "verdict": "approve"|"reject"}.' },
  );
  setHandler(
    decideUpdate,
    async (d: Decision) => {
      s.pendingDecision = d;
      await condition(() => s.pendingDecision !== d);
      return `${d.decision} accepted`;
    },
    {
      validator: (d: Decision): void => {
        const why = decisionRefusal(s, d);
        if (why) throw refusal(why);
      },
      description: 'Decide a parked step: {"decision": "retry"|"skip"|"abort"|"restart", "operator": "<you>", "reason": "<why>"}.',
    },
  );
  setHandler(
    decisionSignal,
    (d) => {
      const why = decisionRefusal(s, d);
      if (why) ignore(s, 'decision', d, why);
      else s.pendingDecision = d;
    },
    { description: 'Durable decision for a parked step: {"decision": "retry"|"skip"|"abort"|"restart", "operator", "reason"}.' },
  );
}
