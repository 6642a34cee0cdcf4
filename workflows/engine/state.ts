// One run's state, shared by the modules that drive it (steps, gates, messages, visibility). Everything
// here is rebuilt by replay from history; nothing is persisted elsewhere.
import { workflowInfo, type WorkflowInfo } from '@temporalio/workflow';
import type { CommonInput, RunbookDefinition } from './definition.js';
import type { Approval, ApprovalRecord, Decision, RunbookView } from './messages.js';
import type { PlanItem } from './plan.js';
import type { Prefetched } from './quick-batch.js';
import type { LeaseHold } from './host-lease.js';
import type { GatePolicy, RunbookPolicy } from './policy.js';
import type { AnyStep, Entry } from './steps.js';
import { MissingResult, type RunContext } from './context.js';

export interface PendingVerdict {
  approval: Approval;
  verdict: 'approved' | 'rejected';
  via: 'update' | 'signal';
  /** The opening of the gate it arrived at: a verdict never carries over to a later opening. */
  nonce: string;
  /** Set once the gate counted or ignored it (the Update answers with it). */
  outcome?: { record: ApprovalRecord } | { why: string };
}

export interface PendingDecision {
  decision: Decision;
  nonce: string;
  outcome?: { ok: true } | { why: string };
}

export interface OpenGate {
  name: string;
  fingerprint: string;
  plan: string[];
  policy: GatePolicy;
  approvals: string[];
  /** Who approved, as proven (key fingerprint, web user, chat user): one person counts once. */
  identities: string[];
  nonce: string;
  /** Verdicts that cannot count are refused in the handler, as they arrive (patch REFUSALS_AT_ARRIVAL). */
  refuseAtArrival: boolean;
}

export interface RunState {
  readonly def: RunbookDefinition;
  readonly info: WorkflowInfo;
  readonly view: RunbookView;
  input: CommonInput;
  entries: Entry<unknown>[];
  cleanup: AnyStep[];
  output?: (ctx: RunContext<unknown>) => unknown;
  restartFrom?: Entry<unknown>;
  policy?: RunbookPolicy;
  /** Each step's value, by its handle. */
  readonly results: Map<object, unknown>;
  /** A dry run plans, for real, only the read-only steps before the first planned change. */
  mutationPlanned: boolean;
  readonly plan: PlanItem[];
  pendingDecisions: PendingDecision[];
  pendingVerdicts: PendingVerdict[];
  openGate?: OpenGate;
  leased: LeaseHold;
  /** The step parked now and its position, for decisions. */
  parked?: { step: AnyStep; index: number; nonce: string; refuseAtArrival?: boolean };
  restarts: number;
  phaseSince: Date;
  /** The fingerprint of each step's commands as its gate showed them, where they were known then. */
  readonly approvedPlans: Map<object, string>;
  /** Results a quick batch already has for steps not yet reached (quick-batch.ts). */
  readonly prefetched: Map<object, Prefetched>;
}

export function newRunState(def: RunbookDefinition, raw: unknown): RunState {
  const given = (typeof raw === 'object' && raw ? raw : {}) as Partial<CommonInput>;
  return {
    def,
    info: workflowInfo(),
    view: {
      runbook: def.name,
      requestedBy: typeof given.requestedBy === 'string' ? given.requestedBy : 'unknown',
      requesterVerified: false,
      dryRun: Boolean(given.dryRun),
      status: 'Running',
      stepsDone: 0,
      steps: [],
      approvals: [],
      audit: { commands: 0, failed: 0 },
      decisions: [],
      ignored: [],
    },
    input: { requestedBy: 'unknown' },
    entries: [],
    cleanup: [],
    results: new Map(),
    mutationPlanned: false,
    plan: [],
    pendingVerdicts: [],
    pendingDecisions: [],
    leased: { locks: [] },
    restarts: 0,
    phaseSince: new Date(0),
    approvedPlans: new Map(),
    prefetched: new Map(),
  };
}

/**
 * The run's context; `hidden` steps look as if they had not run. A gate plans its steps with the values of
 * the steps it guards hidden: after a restart those hold the first pass's values, which the second pass
 * replaces, so a command built from them is not what will run.
 */
export function contextOf(s: RunState, hidden?: Set<object>): RunContext<unknown> {
  const has = (step: object): boolean => s.results.has(step) && !hidden?.has(step);
  return {
    input: s.input,
    dryRun: s.view.dryRun,
    workflowId: s.info.workflowId,
    runId: s.info.runId,
    startedAt: s.info.runStartTime,
    restarts: s.restarts,
    phaseSince: s.phaseSince,
    resultOf: (step) => {
      if (!has(step)) throw new MissingResult((step as { name?: string }).name ?? '?');
      return s.results.get(step);
    },
    hasResult: has,
  };
}

/** Evaluates something that may need a result a dry run only planned; `fallback` says what then. */
export function unlessMissing<T>(f: () => T, fallback: (err: MissingResult) => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof MissingResult) return fallback(err);
    throw err;
  }
}
