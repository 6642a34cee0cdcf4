// An approval as `runbook approve` sends it: the gate as the status showed it, the approver's verdict
// signed with ssh-keygen -Y sign (off the event loop), verified by the worker against its allowed signers.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import type { GateView, RunbookView } from '../workflows/engine/messages.js';
import { canonicalStatement, PROOF_LIFETIME_MS, VERDICT_NAMESPACE, type Proof } from '../workflows/engine/proofs.js';

const sh = promisify(execFile);

export interface Approver {
  name: string;
  /** Private key file of the approver (the lab's trust store). */
  key: string;
}

export async function signedApproval(h: WorkflowHandle, g: GateView, approver: Approver, reason: string, namespace = 'default'): Promise<object> {
  const now = Date.now();
  const statement = canonicalStatement({
    namespace,
    workflowId: h.workflowId,
    runId: g.runId,
    gate: g.name,
    gateNonce: g.nonce,
    verdict: 'approve',
    fingerprint: g.fingerprint,
    approver: approver.name,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + PROOF_LIFETIME_MS).toISOString(),
  });
  const child = sh('ssh-keygen', ['-Y', 'sign', '-f', approver.key, '-n', VERDICT_NAMESPACE, '-q']);
  child.child.stdin!.end(statement);
  const proof: Proof = { kind: 'ssh', statement, signature: (await child).stdout };
  return { gate: g.name, approver: approver.name, reason, fingerprint: g.fingerprint, proof };
}

/** The open gate, read now (a status query: for an evicted run, a replay). */
export async function openGate(h: WorkflowHandle, name?: string): Promise<GateView> {
  const g = (await h.query<RunbookView>('status')).openGate;
  if (!g || (name !== undefined && g.name !== name)) throw new Error(`${h.workflowId}: gate ${name ?? '(any)'} is not open`);
  return g;
}
