// Messages every runbook accepts. Each takes ONE JSON object, because the Web UI sends one payload.
// Updates answer at once and are refused by their validator (refusals never reach history); the
// equivalent signals are the durable path that works while no worker is up, and are validated
// in the workflow the same way (invalid ones are recorded and ignored).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Proof } from './proofs.js';
import type { RunbookStatusValue } from './search-attributes.js';

export interface Approval {
  gate: string;
  approver: string;
  reason?: string;
  /** sha256 of the gate's plan, as shown in current details. Optional; if given it must match. */
  fingerprint?: string;
  /** Who gives the verdict, proven (see proofs.ts); without one only a policy with allowUnverifiedApprovers counts it. */
  proof?: Proof;
}

export type DecisionKind = 'retry' | 'skip' | 'abort' | 'restart';
export interface Decision {
  decision: DecisionKind;
  operator: string;
  reason?: string;
  /** As for a verdict: signed over the parked step's opening (see proofs.ts). */
  proof?: Proof;
}

export interface ApprovalRecord {
  gate: string;
  /** The approver the proof names (or, UNVERIFIED, the name the sender typed). */
  approver: string;
  reason?: string;
  fingerprint?: string;
  verdict: 'approved' | 'rejected';
  at: string;
  via: 'update' | 'signal' | 'timeout';
  /** How the approver was proven: ssh key, Web UI login (codec countersignature), chat callback. */
  proven?: { via: 'ssh' | 'web' | 'chat'; identity: string };
  /** No proof: counted only because the policy says allowUnverifiedApprovers. */
  unverified?: true;
}

export interface DecisionRecord extends Omit<Decision, 'proof'> {
  at: string;
  step: string;
  proven?: { via: 'ssh' | 'web' | 'chat'; identity: string };
  unverified?: true;
}

export interface IgnoredMessage {
  kind: 'approval' | 'decision';
  by: string;
  at: string;
  why: string;
}

export interface StepRecord {
  index: number;
  name: string;
  state: 'running' | 'ok' | 'failed' | 'skipped' | 'planned' | 'parked';
  host?: string;
  command?: string;
  exitCode?: number;
  durationMs?: number;
  attempts: number;
  error?: string;
  auditRef?: string;
  /** Last line of the command's output, for status displays. */
  lastOutput?: string;
}

export interface GateView {
  name: string;
  plan: string[];
  fingerprint: string;
  approvers: string[];
  quorum: number;
  fourEyes: boolean;
  approvals: string[];
  openedAt: string;
  /** Made when the gate opened: a proof binds this opening only. */
  nonce: string;
  runId: string;
}

export interface RunbookView {
  runbook: string;
  requestedBy: string;
  /** The requester as the start's proof names them; false: only the name the input gives. */
  requesterVerified: boolean;
  dryRun: boolean;
  status: RunbookStatusValue;
  /** The procedure's own state names, for runbooks that declare phases (e.g. PreparingToStart … Succeeded). */
  phase?: string;
  currentStep?: string;
  stepsDone: number;
  stepsTotal?: number;
  steps: StepRecord[];
  openGate?: GateView;
  parked?: { step: string; error: string; nonce: string; fingerprint: string; runId: string };
  waitingFor?: string;
  lastError?: string;
  approvals: ApprovalRecord[];
  /** Commands run and failed so far; full output under <dataDir>/audit/<workflowId>/ on the worker. */
  audit: { commands: number; failed: number; lastRef?: string };
  decisions: DecisionRecord[];
  /** The latest MAX_IGNORED of them; `ignoredTotal` counts all (a flood of signals must not grow the run). */
  ignored: IgnoredMessage[];
  ignoredTotal?: number;
}

/** Bounds on what a message leaves in a run's state: its text fields clipped, only the latest ignored kept. */
export const MAX_MESSAGE_TEXT = 300;
export const MAX_IGNORED = 50;
export const clipText = (v: unknown, max = MAX_MESSAGE_TEXT): string => {
  const t = String(v ?? '');
  return t.length > max ? `${t.slice(0, max)}… (${t.length} chars)` : t;
};

export const approveUpdate = defineUpdate<ApprovalRecord, [Approval]>('approve');
export const rejectUpdate = defineUpdate<ApprovalRecord, [Approval]>('reject');
export const decideUpdate = defineUpdate<string, [Decision]>('decide');
/** Durable approval: `{"gate","approver","reason","verdict":"approve"|"reject"}`; verdict defaults to approve. */
export const approvalSignal = defineSignal<[Approval & { verdict?: 'approve' | 'reject' }]>('approval');
export const decisionSignal = defineSignal<[Decision]>('decision');
export const statusQuery = defineQuery<RunbookView>('status');
