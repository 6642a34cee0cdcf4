// Proofs of who gave a verdict or a decision. Every path signs the same statement: the CLI with the
// operator's SSH key, the codec server (Web UI) with its own key naming the user it authenticated, a
// chat callback with the platform's HMAC over an action whose value is the statement. The statement
// binds one opening of one gate of one run, the verdict and the plan, for a bounded time: a proof
// for anything else (another run with the same id, a reject replayed as approve, the gate's next
// opening after a restart) is refused. Pure code: the workflow, the CLI, the codec and the tests share it.
import { quoteArg } from './shell-quote.js';

/** ssh-keygen -Y sign namespace of an operator's own signature. */
export const VERDICT_NAMESPACE = 'runbook-verdict';
/** ssh-keygen -Y sign namespace of the codec server's countersignature (its key may sign nothing else). */
export const COUNTERSIGN_NAMESPACE = 'runbook-countersign';
/** The principal of codec-server keys in allowed_signers. */
export const CODEC_PRINCIPAL = 'runbook-codec';
/** How long a proof made by our CLI or the codec server stays valid. */
export const PROOF_LIFETIME_MS = 10 * 60 * 1000;
/** Slack's window for a signed request; an older timestamp is a replay. */
export const CHAT_WINDOW_SECONDS = 5 * 60;

export type VerdictWord = 'approve' | 'reject' | 'retry' | 'skip' | 'abort' | 'restart';

export interface VerdictStatement {
  namespace: string;
  workflowId: string;
  runId: string;
  /** The gate's name, or `step:<name>` for a decision on a parked step. */
  gate: string;
  /** Made when the gate opened (or the step parked): this opening only. */
  gateNonce: string;
  verdict: VerdictWord;
  /** The plan fingerprint shown at the gate (for a decision: of the parked step and its error). */
  fingerprint: string;
  /** Who the signer says decides: the SSH principal, or the user the codec server authenticated. */
  approver: string;
  issuedAt: string;
  expiresAt: string;
}

export type Proof =
  /** `runbook approve|reject|decide`: ssh-keygen -Y sign -n runbook-verdict over the statement. */
  | { kind: 'ssh'; statement: string; signature: string }
  /** The codec server's countersignature (-n runbook-countersign) naming the user it authenticated. */
  | { kind: 'codec'; statement: string; signature: string; login: 'oidc' | 'session' }
  /** A chat platform's signed callback, exactly as received (body, timestamp, signature header). */
  | { kind: 'chat'; body: string; timestamp: string; signature: string };

/** What the verifying activity found: the identity behind the proof, from the worker's trust as it is now. */
export type ProofCheck =
  | {
      valid: true;
      statement: VerdictStatement;
      /** The approver name the trust maps the signer to. */
      approver: string;
      /** One person, however many names: the key's fingerprint, the codec user, the chat user. */
      identity: string;
      via: 'ssh' | 'web' | 'chat';
    }
  | { valid: false; reason: string };

const KEYS: (keyof VerdictStatement)[] = [
  'namespace',
  'workflowId',
  'runId',
  'gate',
  'gateNonce',
  'verdict',
  'fingerprint',
  'approver',
  'issuedAt',
  'expiresAt',
];

/** The exact bytes that are signed: fixed key order, no whitespace, nothing else. */
export function canonicalStatement(s: VerdictStatement): string {
  return JSON.stringify(Object.fromEntries(KEYS.map((k) => [k, s[k]])));
}

/** The statement of signed text, or why it is not one (unknown or missing keys, wrong types). */
export function parseStatement(text: string): VerdictStatement | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'the signed statement is not JSON';
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'the signed statement is not an object';
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !KEYS.includes(k as keyof VerdictStatement));
  if (extra.length) return `the signed statement has unknown fields: ${extra.join(', ')}`;
  for (const k of KEYS) if (typeof o[k] !== 'string' || o[k] === '') return `the signed statement lacks "${k}"`;
  const st = o as unknown as VerdictStatement;
  if (canonicalStatement(st) !== text) return 'the signed statement is not in canonical form';
  return st;
}

/** What a verdict must be bound to, as the run knows it now. */
export type Expected = Pick<VerdictStatement, (typeof BOUND)[number]>;
const BOUND = ['namespace', 'workflowId', 'runId', 'gate', 'gateNonce', 'verdict', 'fingerprint'] as const;

/** Why a verified statement does not decide this opening of this gate now, or undefined. */
export function bindingRefusal(st: VerdictStatement, want: Expected, nowMs: number): string | undefined {
  for (const k of BOUND) {
    if (st[k] !== want[k]) {
      const what: Record<typeof k, string> = {
        namespace: 'another namespace',
        workflowId: 'another workflow',
        runId: 'another run (same workflow id, earlier or later run)',
        gate: 'another gate',
        gateNonce: 'an earlier opening of this gate (it opened again since, e.g. after a restart)',
        verdict: `the verdict "${st.verdict}", not "${want.verdict}"`,
        fingerprint: 'another plan',
      };
      return `the proof is for ${what[k]}: ${k} ${JSON.stringify(st[k])} ≠ ${JSON.stringify(want[k])}`;
    }
  }
  const issued = Date.parse(st.issuedAt);
  const expires = Date.parse(st.expiresAt);
  if (!Number.isFinite(issued) || !Number.isFinite(expires)) return 'the proof has no valid issuedAt/expiresAt';
  if (expires <= issued) return 'the proof expires before it was issued';
  if (nowMs > expires) return `the proof expired at ${st.expiresAt}: sign again`;
  // A little slack for clocks: the signer's and the worker's.
  if (issued > nowMs + 60_000) return `the proof is issued in the future (${st.issuedAt})`;
  return undefined;
}

/** A verdict's word as signed, from the Update or Signal it came by. */
export function verdictWord(verdict: 'approved' | 'rejected'): VerdictWord {
  return verdict === 'approved' ? 'approve' : 'reject';
}

/**
 * The value a chat button carries (and the callback returns): the statement to bind, without the
 * approver (the platform names the user) and with the gate's own deadline as expiry.
 */
export function chatActionValue(st: Omit<VerdictStatement, 'approver'>): string {
  return canonicalStatement({ ...st, approver: 'chat' });
}

/** Slack's signature base string: v0:<timestamp>:<body>. */
export function chatSignatureBase(timestamp: string, body: string): string {
  return `v0:${timestamp}:${body}`;
}

/** Why a chat callback's timestamp is outside the window, or undefined. */
export function chatTimestampRefusal(timestamp: string, nowMs: number): string | undefined {
  if (!/^\d{1,12}$/.test(timestamp)) return 'the chat callback has no valid timestamp';
  const age = Math.abs(nowMs / 1000 - Number(timestamp));
  if (age > CHAT_WINDOW_SECONDS) return `the chat callback is ${Math.round(age)} s old (more than ${CHAT_WINDOW_SECONDS} s): a replay`;
  return undefined;
}

/** Said with every refusal of a verdict that has no proof. */
export function howToProve(workflowId: string, gate: string): string {
  return (
    `a verdict needs a proof of who gives it: \`npx runbook approve|reject ${quoteArg(workflowId)} --gate ${quoteArg(gate)} --reason "<why>"\`` +
    " (signs with your SSH key listed in the worker's allowed_signers), or the Web UI logged in to the codec server, or the chat buttons"
  );
}
