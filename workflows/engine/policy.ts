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
  /**
   * Lab only: count a verdict that carries no proof under the name its sender typed, marked UNVERIFIED in
   * details, result and audit. Off by default: every verdict and decision must prove who gives it.
   */
  allowUnverifiedApprovers: boolean;
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

/** A verdict's shape (both paths, before anything else); returns why it is refused. */
export function verdictShapeRefusal(a: { gate?: unknown; approver?: unknown; proof?: unknown } | undefined): string | undefined {
  if (!a || typeof a !== 'object' || typeof a.gate !== 'string') {
    return 'a verdict is one JSON object {"gate": "...", "reason": "...", "proof": {...}} (or, where the policy allows unverified approvers, "approver": "<name>")';
  }
  if (a.proof === undefined && (typeof a.approver !== 'string' || a.approver.trim() === '')) return 'a verdict names its approver or carries a proof';
  return undefined;
}

/** Only the gate open now can be decided; a verdict sent before it opened, or after it closed, never counts. */
export function openGateRefusal(gate: string, open: { name: string } | undefined): string | undefined {
  if (!open) return `no gate is open (asked for "${gate}"): a verdict counts only for the gate open when it arrives`;
  if (open.name !== gate) return `no such open gate "${gate}"; the open gate is "${open.name}"`;
  return undefined;
}

/**
 * Runs recorded before it judged every queued verdict in the gate loop, one timer per verdict: thousands
 * of signals in one activation then overran the workflow task's deadline (sdk-typescript#939).
 */
export const REFUSALS_AT_ARRIVAL_PATCH = 'refusals-at-arrival';

/** Who may decide, under the policy, once we know who it is: allowed, not the requester, not twice. */
export function approverRefusal(
  who: { approver: string; identity?: string; fingerprint?: unknown },
  open: { name: string; fingerprint: string; approvals: string[]; identities: string[] },
  policy: GatePolicy,
  requestedBy: string,
): string | undefined {
  if (!policy.approvers.includes('*') && !policy.approvers.includes(who.approver)) {
    return `approver "${who.approver}" is not allowed for gate "${open.name}" (allowed: ${policy.approvers.join(', ')})`;
  }
  if (policy.fourEyes && who.approver === requestedBy) {
    return `four-eyes: "${who.approver}" requested this run and cannot approve it`;
  }
  if (who.fingerprint !== undefined && who.fingerprint !== open.fingerprint) {
    return `stale plan: fingerprint ${String(who.fingerprint)} differs from the gate's ${open.fingerprint}`;
  }
  if (open.approvals.includes(who.approver)) return `"${who.approver}" already approved gate "${open.name}"`;
  if (who.identity && open.identities.includes(who.identity)) {
    return `${who.identity} already approved gate "${open.name}" under another name: one person counts once toward the quorum`;
  }
  return undefined;
}
