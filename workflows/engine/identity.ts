// Who gives a verdict or a decision: the proof it carries, verified by an activity against the worker's
// trust as it is when the message arrives (so a key or user removed while a run is parked no longer
// counts), then bound to this run, this opening of the gate, this verdict and this plan.
import { adminAs } from './admin-activities.js';
import type { GatePolicy } from './policy.js';
import { bindingRefusal, type Expected, type Proof } from './proofs.js';

export type Identified = { approver: string; proven?: { via: 'ssh' | 'web' | 'chat'; identity: string }; unverified?: true } | { why: string };

export async function identify(m: { name?: string; proof?: Proof }, want: Expected, policy: GatePolicy, howTo: string): Promise<Identified> {
  if (m.proof === undefined) {
    if (policy.allowUnverifiedApprovers && m.name) return { approver: m.name, unverified: true };
    return { why: `no proof of identity: ${howTo}` };
  }
  const check = await adminAs('verify the proof of a verdict').verifyVerdictProof({ proof: m.proof });
  if (!check.valid) return { why: `proof refused: ${check.reason}` };
  const unbound = bindingRefusal(check.statement, want, Date.now());
  if (unbound) return { why: `proof refused: ${unbound}` };
  if (m.name !== undefined && m.name !== '' && m.name !== check.approver) {
    return { why: `proof refused: the message names "${m.name}" but the proof is by "${check.approver}" (${check.identity})` };
  }
  return { approver: check.approver, proven: { via: check.via, identity: check.identity } };
}
