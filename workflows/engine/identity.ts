// Who gives a verdict or a decision: the proof it carries, verified by a local activity against the worker's
// trust as it is when the message arrives (so a key or user removed while a run is parked no longer
// counts), then bound to this run, this opening of the gate, this verdict and this plan.
import { patched } from '@temporalio/workflow';
import { adminAs, adminLocalAs } from './admin-activities.js';
import type { GatePolicy } from './policy.js';
import { bindingRefusal, type Expected, type Proof } from './proofs.js';

const VERIFY_LOCALLY_PATCH = 'verdict-proof-local-activity';

export type Identified = { approver: string; proven?: { via: 'ssh' | 'web' | 'chat'; identity: string }; unverified?: true } | { why: string };

export async function identify(m: { name?: string; proof?: Proof }, want: Expected, policy: GatePolicy, howTo: string): Promise<Identified> {
  if (m.proof === undefined) {
    if (policy.allowUnverifiedApprovers && m.name) return { approver: m.name, unverified: true };
    return { why: `no proof of identity: ${howTo}` };
  }
  // A local activity: the check runs inside the workflow task that took the verdict, so the approved step
  // starts one activity task and one workflow task sooner (an evicted run's approval is felt as latency).
  // Runs recorded while it was an activity task keep that on replay.
  const verifier = patched(VERIFY_LOCALLY_PATCH) ? adminLocalAs : adminAs;
  const check = await verifier('verify the proof of a verdict').verifyVerdictProof({ proof: m.proof });
  if (!check.valid) return { why: `proof refused: ${check.reason}` };
  const unbound = bindingRefusal(check.statement, want, Date.now());
  if (unbound) return { why: `proof refused: ${unbound}` };
  if (m.name !== undefined && m.name !== '' && m.name !== check.approver) {
    return { why: `proof refused: the message names "${m.name}" but the proof is by "${check.approver}" (${check.identity})` };
  }
  return { approver: check.approver, proven: { via: check.via, identity: check.identity } };
}
