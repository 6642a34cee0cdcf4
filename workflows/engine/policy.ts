// Approval policy of a gate. It comes from the worker's config file, read by an activity at run start
// (so it is in history and replays), never from the run's input: a requester cannot pick their approvers.

export interface GatePolicy {
  /** Who may approve or reject; '*' means anyone (demo only). */
  approvers: string[];
  /** Distinct approvals needed (M of N). */
  quorum: number;
  /** The run's requester may not approve their own run. */
  fourEyes: boolean;
  /** How long the gate waits before `onTimeout` applies, e.g. '24h'. */
  timeout: string;
  onTimeout: 'reject' | 'keep-waiting';
  /** Reminder interval while keep-waiting. */
  remindEvery: string;
  /** Only approvals carrying an OpenSSH signature from allowed_signers count. */
  signed: boolean;
}

export interface RunbookPolicy {
  runbook: string;
  defaults: GatePolicy;
  gates: Record<string, GatePolicy>;
  /** Where notifications go ('log' when no webhook is configured). Never the token itself. */
  notifyTarget: string;
}

export function gatePolicy(p: RunbookPolicy, gate: string): GatePolicy {
  return p.gates[gate] ?? p.defaults;
}

/** The checks shared by the Update validator and the signal path; returns why an approval is refused. */
export function approvalRefusal(
  a: { gate?: unknown; approver?: unknown; fingerprint?: unknown; signature?: unknown },
  open: { name: string; fingerprint: string; approvals: string[] } | undefined,
  policy: GatePolicy | undefined,
  requestedBy: string,
): string | undefined {
  if (typeof a?.gate !== 'string' || typeof a.approver !== 'string' || a.approver.trim() === '') {
    return 'an approval is one JSON object {"gate": "...", "approver": "...", "reason": "..."}';
  }
  if (!open || !policy) return `no gate is open (asked for "${a.gate}")`;
  if (open.name !== a.gate) return `no such open gate "${a.gate}"; the open gate is "${open.name}"`;
  if (!policy.approvers.includes('*') && !policy.approvers.includes(a.approver)) {
    return `approver "${a.approver}" is not allowed for gate "${a.gate}" (allowed: ${policy.approvers.join(', ')})`;
  }
  if (policy.fourEyes && a.approver === requestedBy) {
    return `four-eyes: "${a.approver}" requested this run and cannot approve it`;
  }
  if (a.fingerprint !== undefined && a.fingerprint !== open.fingerprint) {
    return `stale plan: fingerprint ${String(a.fingerprint)} differs from the gate's ${open.fingerprint}`;
  }
  if (open.approvals.includes(a.approver)) return `"${a.approver}" already approved gate "${a.gate}"`;
  if (policy.signed && typeof a.signature !== 'string') {
    return `gate "${a.gate}" needs a signed approval (ssh-keygen -Y sign -n runbook-approval)`;
  }
  return undefined;
}
