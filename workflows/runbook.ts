// The runbook machinery every procedure uses: named steps and approval gates, parking on failure until an
// operator decides, plans and fingerprints, audit, status, search attributes and host leases.
// A procedure file only lists its steps and gates; nothing about SSH, retries or approvals lives there.
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  TimeoutFailure,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { z } from 'zod';
import type { RunbookActivities } from '../activities/index.js';
import { describeCommand, lastLine, type Command, type CommandResult } from './commands.js';
import { acquireLeases, releaseLeases } from './host-lease.js';
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
  type RunbookView,
  type StepRecord,
} from './messages.js';
import { renderDetails } from './details.js';
import { planFingerprint } from './fingerprint.js';
import { invalidInput } from './input-fields.js';
import { approvalRefusal, gatePolicy, type GatePolicy, type RunbookPolicy } from './policy.js';
import { RunbookGate, RunbookHosts, RunbookName, RunbookPhase, RunbookStatus, type RunbookStatusValue } from './search-attributes.js';

/** What earlier steps produced, by step name (or `as` alias). */
export interface RunContext<I> {
  input: I;
  dryRun: boolean;
  workflowId: string;
  /** When this run started (deterministic): dated names, e.g. backup bundles. */
  startedAt: Date;
  results: Record<string, unknown>;
  get<T>(name: string): T;
  /** How often an operator restarted the run from `restartFrom` (0 on the first pass). */
  restarts: number;
  /** When the current phase was entered (or re-entered after an operator's decision): phase deadlines. */
  phaseSince: Date;
}

type Builder<I, T> = (ctx: RunContext<I>) => T;
type ActivityName = keyof RunbookActivities;

export interface StepOptions<I> {
  /** Safe to run again with the same effect: retried per policy on failure, then parked. */
  idempotent: boolean;
  /** Changes nothing: may run during a dry run (until the first change is planned). */
  readOnly?: boolean;
  /** Shown as dangerous in plans and details. */
  danger?: boolean;
  /** Store the result under this name instead of the step name. */
  as?: string;
  /** Turn the raw result into what later steps need; throwing here fails the step. */
  parse?: (result: CommandResult[], ctx: RunContext<I>) => unknown;
  /** Reject the outcome: return a reason to fail the step (a precondition or postcondition). */
  expect?: (value: unknown, ctx: RunContext<I>) => string | undefined;
  /** Per-attempt time limit for the step's activity, e.g. '2h'. */
  timeout?: string;
  /**
   * A failed `expect` ends the run as Failed instead of parking it: for verifications, whose finding is
   * the answer (nobody can "retry" a corrupted backup into a good one).
   */
  verdict?: boolean;
  /**
   * The operator may retry or abort this step when it parks, never skip it: what follows is only safe
   * once it passed (e.g. a restored database with unapplied migrations must not be touched further).
   */
  noSkip?: string;
  /** Run only when this holds, decided from earlier results (e.g. only for an encrypted bundle); else recorded as skipped. */
  when?: (ctx: RunContext<I>) => boolean;
  /** The run's visible phase (search attribute RunbookPhase) from this step on, for runbooks that declare `phases`. */
  phase?: string;
  /**
   * Done in seconds (the step's `timeout`, default 1 minute, bounds each attempt): an idempotent step's
   * remote commands then run as local activities, inside the workflow task, exec'd straight on the pooled
   * SSH connection (activities/quick-command.ts). No server round trip and no host-side run key per
   * command: about 10x cheaper, and sound only because running it again is harmless (after a worker
   * crash it reruns). Ignored for one-shot steps. Long commands stay ordinary activities: those heartbeat.
   */
  quick?: boolean;
}

export interface StepEntry<I> {
  type: 'step';
  name: string;
  run:
    | { kind: 'commands'; build: Builder<I, Command | Command[]> }
    | { kind: 'activity'; activity: ActivityName; build: Builder<I, unknown>; describe: Builder<I, string[]> };
  opts: StepOptions<I>;
}

export interface GateEntry<I> {
  type: 'gate';
  name: string;
  /** Extra lines for the plan shown at the gate, before the commands of the steps it guards. */
  note?: Builder<I, string[]>;
  /** Open the gate only when this holds (e.g. only when there is something to delete). */
  when?: (ctx: RunContext<I>) => boolean;
}

export type Entry<I> = StepEntry<I> | GateEntry<I>;

/** A step that runs commands (each `remote(...)`/`local(...)`), in order, stopping at the first failure. */
export function step<I>(name: string, build: Builder<I, Command | Command[]>, opts: StepOptions<I>): StepEntry<I> {
  return { type: 'step', name, run: { kind: 'commands', build }, opts };
}

/** A step that calls one activity directly (for work that is more than a command, e.g. streaming). */
export function call<I>(
  name: string,
  activity: ActivityName,
  build: Builder<I, unknown>,
  describe: Builder<I, string[]>,
  opts: StepOptions<I>,
): StepEntry<I> {
  return { type: 'step', name, run: { kind: 'activity', activity, build, describe }, opts };
}

/** A human approval before what follows. The plan shown is the commands of the steps up to the next gate. */
export function gate<I>(name: string, note?: Builder<I, string[]>, opts: { when?: (ctx: RunContext<I>) => boolean } = {}): GateEntry<I> {
  return { type: 'gate', name, note, when: opts.when };
}

export interface RunbookDefinition<S extends z.ZodType> {
  name: string;
  /**
   * Builds the input schema. Called once per run, to check its input, and then dropped: the worker's
   * sandbox evaluates a runbook's module afresh for every run and keeps it while the run is cached, and a
   * zod object schema built there at module level cost each parked run ~100–180 KiB (bench/scale.ts).
   */
  input: () => S;
  /** Inventory hosts this run touches (search attribute RunbookHosts; checked before anything runs). */
  hosts: (input: z.infer<S>) => string[];
  /** Hosts this run changes: leased for the whole run so two runbooks never work one host at once. */
  leases?: (input: z.infer<S>) => string[];
  steps: (input: z.infer<S>) => (Entry<z.infer<S>> | null | false | undefined)[];
  /** Steps run (best effort, not parked) after an abort or failure, before leases are released. */
  cleanup?: (input: z.infer<S>) => StepEntry<z.infer<S>>[];
  /** What the run returns on success. */
  output?: (ctx: RunContext<z.infer<S>>) => unknown;
  /**
   * Visible phases (search attribute RunbookPhase, current details): steps name theirs with `phase`; a parked
   * step shows `timeout` when its time limit ran out (partial, can be continued) and `error` otherwise; `done` at the end.
   */
  phases?: { error: string; timeout: string; done: string };
  /** The gate or step an operator's `restart` decision goes back to (the procedure's "--restart"). */
  restartFrom?: string;
}

export interface PlanItem {
  kind: 'step' | 'gate';
  name: string;
  effect?: 'read-only' | 'idempotent' | 'once';
  danger?: boolean;
  commands: string[];
}

export interface RunbookResult {
  runbook: string;
  status: RunbookStatusValue;
  dryRun: boolean;
  plan?: PlanItem[];
  fingerprint?: string;
  steps: StepRecord[];
  approvals: ApprovalRecord[];
  output?: unknown;
}

/** Common input fields every runbook accepts in addition to its own. */
export interface CommonInput {
  requestedBy: string;
  dryRun?: boolean;
}

const admin = proxyActivities<RunbookActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['UnknownHost', 'InvalidConfig'] },
});

const notifier = proxyActivities<RunbookActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
});

/** Turns a definition into a workflow function. Export it under the runbook's name. */
export function runbook<S extends z.ZodType>(def: RunbookDefinition<S>): (raw: unknown) => Promise<RunbookResult> {
  const fn = async (raw: unknown): Promise<RunbookResult> => new Run(def, raw).execute();
  Object.defineProperty(fn, 'name', { value: def.name });
  return fn;
}

type I = any; // eslint-disable-line @typescript-eslint/no-explicit-any -- the engine is generic over inputs

class Abort extends Error {}
class Restart extends Error {}

class Run {
  private readonly info = workflowInfo();
  private input!: I & CommonInput;
  private entries: Entry<I>[] = [];
  private policy?: RunbookPolicy;
  private readonly results: Record<string, unknown> = {};
  private readonly view: RunbookView;
  private mutationPlanned = false;
  private readonly plan: PlanItem[] = [];
  private pendingDecision?: Decision;
  private pendingVerdicts: { approval: Approval; verdict: 'approved' | 'rejected'; via: 'update' | 'signal' }[] = [];
  private openGate?: { name: string; fingerprint: string; plan: string[]; policy: GatePolicy; approvals: string[] };
  private leased: string[] = [];
  private parkedNoSkip?: string;
  private parkedIndex = -1;
  private restarts = 0;
  private phaseSince = new Date(0);

  constructor(
    private readonly def: RunbookDefinition<z.ZodType>,
    private readonly raw: unknown,
  ) {
    const requestedBy =
      typeof raw === 'object' && raw && typeof (raw as CommonInput).requestedBy === 'string'
        ? (raw as CommonInput).requestedBy
        : 'unknown';
    this.view = {
      runbook: def.name,
      requestedBy,
      dryRun: Boolean((raw as CommonInput | undefined)?.dryRun),
      status: 'Running',
      stepsDone: 0,
      steps: [],
      approvals: [],
      audit: { commands: 0, failed: 0 },
      decisions: [],
      ignored: [],
    };
    this.registerHandlers();
  }

  private ctx(): RunContext<I> {
    const results = this.results;
    return {
      input: this.input,
      dryRun: this.view.dryRun,
      workflowId: this.info.workflowId,
      startedAt: this.info.runStartTime,
      results,
      get<T>(name: string): T {
        if (!(name in results)) throw new MissingResult(name);
        return results[name] as T;
      },
      restarts: this.restarts,
      phaseSince: this.phaseSince,
    };
  }

  // ---- messages -------------------------------------------------------------------------------------
  private registerHandlers(): void {
    setHandler(statusQuery, () => this.view, { description: 'Runbook, requester, state, steps, open gate, last error.' });
    const validate = (a: Approval): void => {
      const why = approvalRefusal(a, this.openGate, this.openGate?.policy, this.view.requestedBy);
      if (why) throw new Error(why);
    };
    const accept = (verdict: 'approved' | 'rejected') => async (a: Approval): Promise<ApprovalRecord> => {
      this.pendingVerdicts.push({ approval: a, verdict, via: 'update' });
      const gateName = a.gate;
      await condition(() => !this.pendingVerdicts.some((p) => p.approval === a));
      const rec = this.view.approvals.filter((r) => r.gate === gateName && r.approver === a.approver).slice(-1)[0];
      if (!rec) {
        const why = this.view.ignored.filter((m) => m.by === a.approver).slice(-1)[0]?.why ?? 'not counted';
        throw ApplicationFailure.create({ message: why, type: 'ApprovalRefused', nonRetryable: true });
      }
      return rec;
    };
    setHandler(approveUpdate, accept('approved'), {
      validator: validate,
      description:
        'Approve the open gate: {"gate": "<name>", "approver": "<you>", "reason": "<why>"} (optional "fingerprint").',
    });
    setHandler(rejectUpdate, accept('rejected'), {
      validator: validate,
      description: 'Reject the open gate (the run stops and cleans up): {"gate", "approver", "reason"}.',
    });
    setHandler(
      approvalSignal,
      (a) => {
        this.pendingVerdicts.push({
          approval: a,
          verdict: a?.verdict === 'reject' ? 'rejected' : 'approved',
          via: 'signal',
        });
      },
      {
        description:
          'Durable approval, works while no worker is up: {"gate", "approver", "reason", "verdict": "approve"|"reject"}.',
      },
    );
    const validateDecision = (d: Decision): void => {
      const why = this.decisionRefusal(d);
      if (why) throw new Error(why);
    };
    setHandler(
      decideUpdate,
      async (d: Decision) => {
        this.pendingDecision = d;
        await condition(() => this.pendingDecision !== d);
        return `${d.decision} accepted`;
      },
      {
        validator: validateDecision,
        description: 'Decide a parked step: {"decision": "retry"|"skip"|"abort"|"restart", "operator": "<you>", "reason": "<why>"}.',
      },
    );
    setHandler(
      decisionSignal,
      (d) => {
        const why = this.decisionRefusal(d);
        if (why) this.ignore('decision', d, why);
        else this.pendingDecision = d;
      },
      { description: 'Durable decision for a parked step: {"decision": "retry"|"skip"|"abort"|"restart", "operator", "reason"}.' },
    );
  }

  private decisionRefusal(d: Decision): string | undefined {
    if (!d || !['retry', 'skip', 'abort', 'restart'].includes(d.decision) || typeof d.operator !== 'string' || !d.operator) {
      return 'a decision is {"decision": "retry"|"skip"|"abort"|"restart", "operator": "<you>", "reason": "<why>"}';
    }
    if (!this.view.parked) return 'nothing is parked';
    if (d.decision === 'skip' && this.parkedNoSkip) return `step "${this.view.parked.step}" cannot be skipped: ${this.parkedNoSkip}`;
    if (d.decision === 'restart') {
      const from = this.restartIndex();
      if (from < 0) return `${this.def.name} has no restart point; retry, skip or abort`;
      if (this.parkedIndex <= from) return `restart goes back to "${this.def.restartFrom}", which this run has not passed yet; retry instead`;
    }
    return undefined;
  }

  private ignore(kind: 'approval' | 'decision', m: { approver?: string; operator?: string } | undefined, why: string): void {
    const by = (m && (m.approver ?? m.operator)) || 'unknown';
    this.view.ignored.push({ kind, by: String(by), at: new Date().toISOString(), why });
    log.warn('ignored message', { kind, by, why });
  }

  // ---- main -----------------------------------------------------------------------------------------
  async execute(): Promise<RunbookResult> {
    this.input = parseInput(this.def.input(), this.raw) as I & CommonInput;
    this.view.requestedBy = this.input.requestedBy;
    this.view.dryRun = Boolean(this.input.dryRun);
    this.entries = this.def.steps(this.input).filter((e): e is Entry<I> => Boolean(e));
    this.view.stepsTotal = this.entries.filter((e) => e.type === 'step').length;
    const hosts = this.def.hosts(this.input);
    upsertSearchAttributes([
      { key: RunbookName, value: this.def.name },
      { key: RunbookHosts, value: hosts },
    ]);
    this.setStatus('Running');
    try {
      await admin.resolveHosts({ hosts });
      this.policy = await admin.loadPolicy({ runbook: this.def.name });
      if (!this.view.dryRun) {
        const leases = this.def.leases?.(this.input) ?? [];
        if (leases.length) {
          this.view.waitingFor = `lease on ${leases.join(', ')}`;
          this.refresh();
          this.leased = leases;
          await acquireLeases(leases, this.def.name, (msg) => {
            this.view.waitingFor = msg;
            this.refresh();
          });
          this.view.waitingFor = undefined;
        }
      }
      for (let i = 0; i < this.entries.length; i++) {
        const e = this.entries[i]!;
        try {
          if (e.type === 'gate') await this.runGate(e, i);
          else await this.runStep(e, i);
        } catch (err) {
          if (!(err instanceof Restart)) throw err;
          // The operator's "restart": everything from the restart point runs again, as new steps with new
          // run keys (so one-shot commands really run again), and the gate there asks again.
          this.restarts++;
          i = this.restartIndex() - 1;
        }
      }
      const output = this.outputOf();
      if (this.def.phases) this.setPhase(this.def.phases.done);
      this.setStatus('Completed');
      return this.result(output);
    } catch (err) {
      const aborted = err instanceof Abort;
      const cancelled = isCancellation(err);
      this.view.lastError = errorText(err);
      await CancellationScope.nonCancellable(() => this.runCleanup());
      this.setStatus(aborted || cancelled ? 'Aborted' : 'Failed');
      if (aborted) throw ApplicationFailure.nonRetryable(`aborted: ${(err as Error).message}`, 'Aborted');
      throw err;
    } finally {
      if (this.leased.length) await CancellationScope.nonCancellable(() => releaseLeases(this.leased));
      // Messages that arrived too late to matter are answered (refused) so no handler is left dangling.
      for (const p of this.pendingVerdicts.splice(0)) this.ignore('approval', p.approval, 'the run has ended');
      this.pendingDecision = undefined;
      await condition(allHandlersFinished);
    }
  }

  /** What the run returns; a dry run's output may need results of steps that were only planned. */
  private outputOf(): unknown {
    try {
      return this.def.output?.(this.ctx());
    } catch (err) {
      if (this.view.dryRun && err instanceof MissingResult) return undefined;
      throw err;
    }
  }

  private result(output?: unknown): RunbookResult {
    const r: RunbookResult = {
      runbook: this.def.name,
      status: this.view.status,
      dryRun: this.view.dryRun,
      steps: this.view.steps,
      approvals: this.view.approvals,
      output,
    };
    if (this.view.dryRun) {
      r.plan = this.plan;
      r.fingerprint = planFingerprint(this.plan);
    }
    return r;
  }

  private restartIndex(): number {
    return this.def.restartFrom ? this.entries.findIndex((e) => e.name === this.def.restartFrom) : -1;
  }

  private setPhase(phase: string): void {
    if (this.view.phase === phase) return;
    this.phaseSince = new Date();
    this.view.phase = phase;
    upsertSearchAttributes([{ key: RunbookPhase, value: phase }]);
  }

  // ---- steps ----------------------------------------------------------------------------------------
  private async runStep(e: StepEntry<I>, index = -1): Promise<void> {
    const effect = e.opts.readOnly ? 'read-only' : e.opts.idempotent ? 'idempotent' : 'once';
    const record: StepRecord = { index: this.view.steps.length + 1, name: e.name, state: 'running', attempts: 0 };
    this.view.steps.push(record);
    this.view.currentStep = e.name;
    const planning = this.view.dryRun && (!e.opts.readOnly || this.mutationPlanned);
    if (planning) {
      if (!e.opts.readOnly) this.mutationPlanned = true;
      record.state = 'planned';
      this.plan.push({ kind: 'step', name: e.name, effect, danger: e.opts.danger, commands: this.describeStep(e) });
      this.view.stepsDone++;
      return;
    }
    if (this.view.dryRun) {
      this.plan.push({ kind: 'step', name: e.name, effect, commands: this.describeStep(e) });
    }
    if (e.opts.when && !e.opts.when(this.ctx())) {
      record.state = 'skipped';
      record.lastOutput = 'not needed for this run';
      this.view.stepsDone++;
      return;
    }
    if (e.opts.phase && this.def.phases) this.setPhase(e.opts.phase);
    for (let decisionRound = 0; ; decisionRound++) {
      this.refresh();
      try {
        const value = await this.attempt(e, record, decisionRound);
        this.results[e.opts.as ?? e.name] = value;
        record.state = 'ok';
        record.error = undefined;
        this.view.parked = undefined;
        this.view.stepsDone++;
        return;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const type = failureType(err) ?? '';
        if (FATAL.includes(type) || (e.opts.verdict && type === 'CheckFailed')) {
          // A changed host key or a host missing from the inventory cannot be fixed by retrying this run:
          // the run fails at once (cleanup and lease release still happen).
          record.state = 'failed';
          record.error = errorText(err);
          throw err;
        }
        record.state = 'parked';
        record.error = errorText(err);
        this.view.audit.failed++;
        this.view.lastError = `${e.name}: ${record.error}`;
        this.parkedNoSkip = e.opts.noSkip;
        this.parkedIndex = index;
        if (this.def.phases) this.setPhase(isTimeout(err) ? this.def.phases.timeout : this.def.phases.error);
        const d = await this.park(e.name, record.error);
        this.parkedNoSkip = undefined;
        this.parkedIndex = -1;
        if (this.def.phases && e.opts.phase) {
          // Continuing is a new window: a phase deadline counts from the decision, not from the first try.
          this.view.phase = undefined;
          this.setPhase(e.opts.phase);
        }
        if (d.decision === 'restart') {
          record.state = 'failed';
          record.error = `${record.error} (restarted from "${this.def.restartFrom}" by ${d.operator})`;
          throw new Restart();
        }
        if (d.decision === 'skip') {
          record.state = 'skipped';
          this.view.stepsDone++;
          return;
        }
        if (d.decision === 'abort') throw new Abort(`${d.operator} aborted at step "${e.name}": ${d.reason ?? ''}`);
        record.state = 'running';
      }
    }
  }

  private async attempt(e: StepEntry<I>, record: StepRecord, decisionRound: number): Promise<unknown> {
    const ctx = this.ctx();
    const idempotent = e.opts.idempotent || Boolean(e.opts.readOnly);
    if (e.run.kind === 'activity') {
      record.attempts++;
      const fn = proxyActivities<RunbookActivities>(this.activityOptions(e, idempotent, e.name))[e.run.activity] as (
        a: unknown,
      ) => Promise<unknown>;
      const value = await fn(e.run.build(ctx));
      this.check(e, value, ctx);
      return value;
    }
    const built = e.run.build(ctx);
    const commands = Array.isArray(built) ? built : [built];
    const out: CommandResult[] = [];
    for (let c = 0; c < commands.length; c++) {
      const cmd = commands[c]!;
      record.host = cmd.kind === 'remote' ? cmd.host : 'worker';
      record.command = describeCommand(cmd);
      record.attempts++;
      this.refresh();
      // The key names this execution on the host: an activity retry after a crash re-attaches to it
      // instead of starting it again; an operator's "retry" (a new decision round) starts it afresh.
      const runKey = `${record.index}.${c}.r${decisionRound}`;
      const summary = `${e.name}: ${record.command}`.slice(0, 200);
      const opts = this.activityOptions(e, idempotent, summary, cmd.kind === 'local');
      const req = { command: cmd, runKey, once: !idempotent, step: e.name };
      // patched() last: it is only consulted (and its marker only written) where a quick step runs, so
      // histories from before quick steps replay on the ordinary path.
      const quick = Boolean(e.opts.quick) && idempotent && cmd.kind === 'remote' && patched(QUICK_STEPS_PATCH);
      const res = quick
        ? await proxyLocalActivities<RunbookActivities>({ summary, startToCloseTimeout: e.opts.timeout ?? '1 minute', retry: opts.retry }).runQuickCommand(req)
        : await proxyActivities<RunbookActivities>(opts).runCommand(req);
      record.exitCode = res.exitCode;
      record.durationMs = res.durationMs;
      record.auditRef = res.auditRef;
      record.lastOutput = lastLine(res.stdoutTail) || lastLine(res.stderrTail) || undefined;
      this.view.audit.commands++;
      this.view.audit.lastRef = res.auditRef;
      out.push(res);
    }
    const value = e.opts.parse ? e.opts.parse(out, ctx) : out.length === 1 ? out[0] : out;
    this.check(e, value, ctx);
    return value;
  }

  private check(e: StepEntry<I>, value: unknown, ctx: RunContext<I>): void {
    const why = e.opts.expect?.(value, ctx);
    if (why) throw ApplicationFailure.nonRetryable(`check failed: ${why}`, 'CheckFailed');
  }

  private activityOptions(e: StepEntry<I>, idempotent: boolean, summary: string, local = false): ActivityOptions {
    return {
      summary,
      startToCloseTimeout: e.opts.timeout ?? '1 hour',
      heartbeatTimeout: '20 seconds',
      retry: idempotent
        ? { maximumAttempts: 3, initialInterval: '2 seconds', nonRetryableErrorTypes: NON_RETRYABLE }
        : // Remote one-shot commands may be re-attempted: the host-side run key makes a new attempt
          // attach to the first one, never start it twice. A local process dies with its worker, so
          // a one-shot local command gets exactly one attempt.
          { maximumAttempts: local ? 1 : 10, initialInterval: '2 seconds', nonRetryableErrorTypes: NON_RETRYABLE },
    };
  }

  private describeStep(e: StepEntry<I>): string[] {
    try {
      if (e.run.kind === 'activity') return e.run.describe(this.ctx());
      const built = e.run.build(this.ctx());
      return (Array.isArray(built) ? built : [built]).map(describeCommand);
    } catch (err) {
      if (err instanceof MissingResult) return [`(commands depend on the result of step "${err.step}")`];
      throw err;
    }
  }

  private async park(step: string, error: string): Promise<Decision> {
    this.view.parked = { step, error };
    this.setStatus('Parked');
    this.notify('parked', `step "${step}" failed and is parked: ${error}`);
    await condition(() => this.pendingDecision !== undefined);
    const d = this.pendingDecision!;
    this.view.decisions.push({ ...d, at: new Date().toISOString(), step });
    this.pendingDecision = undefined;
    this.view.parked = undefined;
    this.setStatus('Running');
    return d;
  }

  private async runCleanup(): Promise<void> {
    for (const c of this.def.cleanup?.(this.input) ?? []) {
      try {
        await this.attempt(c, { index: 900 + this.view.steps.length, name: c.name, state: 'running', attempts: 0 }, 0);
        this.view.steps.push({ index: this.view.steps.length + 1, name: `cleanup: ${c.name}`, state: 'ok', attempts: 1 });
      } catch (err) {
        this.view.steps.push({
          index: this.view.steps.length + 1,
          name: `cleanup: ${c.name}`,
          state: 'failed',
          attempts: 1,
          error: errorText(err),
        });
      }
    }
  }

  // ---- gates ----------------------------------------------------------------------------------------
  private gatePlan(g: GateEntry<I>, index: number): string[] {
    const lines: string[] = [];
    try {
      lines.push(...(g.note?.(this.ctx()) ?? []));
    } catch (err) {
      // A dry run plans gates whose notes read results of steps that only planned: say so.
      if (!(err instanceof MissingResult)) throw err;
      lines.push(`(details depend on the result of step "${err.step}")`);
    }
    for (let j = index + 1; j < this.entries.length; j++) {
      const next = this.entries[j]!;
      if (next.type === 'gate') break;
      const tag = next.opts.danger ? ' [DANGER]' : next.opts.readOnly ? ' [read-only]' : '';
      lines.push(`${next.name}${tag}:`, ...this.describeStep(next).map((c) => `  ${c}`));
    }
    return lines;
  }

  private async runGate(g: GateEntry<I>, index: number): Promise<void> {
    if (g.when) {
      let open = true;
      try {
        open = g.when(this.ctx());
      } catch (err) {
        // A dry run decides on results of steps that were only planned: plan the gate.
        if (!(this.view.dryRun && err instanceof MissingResult)) throw err;
      }
      if (!open) return;
    }
    const planLines = this.gatePlan(g, index);
    const fingerprint = planFingerprint(planLines);
    if (this.view.dryRun) {
      this.mutationPlanned = true;
      this.plan.push({ kind: 'gate', name: g.name, commands: [`approval required; plan fingerprint ${fingerprint}`] });
      return;
    }
    const policy = gatePolicy(this.policy!, g.name);
    this.openGate = { name: g.name, fingerprint, plan: planLines, policy, approvals: [] };
    this.view.openGate = {
      name: g.name,
      plan: planLines,
      fingerprint,
      approvers: policy.approvers,
      quorum: policy.quorum,
      fourEyes: policy.fourEyes,
      approvals: [],
      openedAt: new Date().toISOString(),
    };
    this.setStatus('AwaitingApproval', g.name);
    this.notify('awaiting-approval', `gate "${g.name}" awaits approval (fingerprint ${fingerprint})`);
    let deadlinePassed = false;
    for (;;) {
      const wait = deadlinePassed ? policy.remindEvery : policy.timeout;
      const acted = await condition(() => this.pendingVerdicts.length > 0, wait, {
        summary: `gate ${g.name}: ${deadlinePassed ? 'next reminder' : `${policy.onTimeout} after`} ${wait}`,
      });
      if (!acted) {
        if (policy.onTimeout === 'reject') {
          this.record({ gate: g.name, approver: 'timeout', reason: `no decision within ${policy.timeout}` }, 'rejected', 'timeout');
          break;
        }
        deadlinePassed = true;
        this.notify('reminder', `gate "${g.name}" still awaits approval`);
        continue;
      }
      const p = this.pendingVerdicts[0]!;
      // Re-checked here for both paths: a signal is not validated on arrival, and an Update accepted
      // a moment ago may have been overtaken by another verdict on the same gate.
      const why = approvalRefusal(p.approval, this.openGate, policy, this.view.requestedBy);
      if (why) {
        this.ignore('approval', p.approval, why);
        this.pendingVerdicts.shift();
        continue;
      }
      if (policy.signed) {
        const ok = await admin.verifyApprovalSignature({
          workflowId: this.info.workflowId,
          gate: g.name,
          fingerprint,
          approver: p.approval.approver,
          signature: p.approval.signature ?? '',
        });
        if (!ok.valid) {
          this.ignore('approval', p.approval, `signature refused: ${ok.reason}`);
          this.pendingVerdicts.shift();
          continue;
        }
      }
      this.record(p.approval, p.verdict, p.via);
      this.pendingVerdicts.shift();
      if (p.verdict === 'rejected') break;
      this.openGate.approvals.push(p.approval.approver);
      this.view.openGate.approvals.push(p.approval.approver);
      if (this.openGate.approvals.length >= policy.quorum) break;
      this.refresh();
    }
    const rejected = this.view.approvals.filter((r) => r.gate === g.name && r.verdict === 'rejected').slice(-1)[0];
    for (const late of this.pendingVerdicts.splice(0)) this.ignore('approval', late.approval, `gate "${g.name}" was already decided`);
    this.openGate = undefined;
    this.view.openGate = undefined;
    this.setStatus('Running');
    if (rejected) throw new Abort(`gate "${g.name}" rejected by ${rejected.approver}: ${rejected.reason ?? ''}`);
  }

  private record(a: Approval, verdict: 'approved' | 'rejected', via: ApprovalRecord['via']): void {
    const rec: ApprovalRecord = {
      gate: a.gate,
      approver: a.approver,
      reason: a.reason,
      fingerprint: this.openGate?.fingerprint,
      verdict,
      at: new Date().toISOString(),
      via,
    };
    this.view.approvals.push(rec);
    log.info('gate verdict', { ...rec });
  }

  // ---- visibility -----------------------------------------------------------------------------------
  private setStatus(status: RunbookStatusValue, gateName?: string): void {
    this.view.status = status;
    upsertSearchAttributes([
      { key: RunbookStatus, value: status },
      { key: RunbookGate, value: gateName ?? null },
    ]);
    this.refresh();
  }

  private refresh(): void {
    setCurrentDetails(renderDetails(this.view, this.info.workflowId));
  }

  /** Fire and forget: a webhook that is down is retried with backoff but never holds up a recovery. */
  private notify(event: string, text: string): void {
    notifier
      .notify({
        event,
        runbook: this.def.name,
        workflowId: this.info.workflowId,
        gate: this.openGate?.name,
        text,
        details: renderDetails(this.view, this.info.workflowId),
      })
      .catch((err) => log.warn('notification failed', { event, error: errorText(err) }));
  }
}

/** Marks runs whose `quick` steps run as local activities (histories before it used ordinary ones). */
const QUICK_STEPS_PATCH = 'quick-steps-local-activities';

const NON_RETRYABLE = ['CommandFailed', 'HostKeyMismatch', 'UnknownHost', 'InvalidCommand', 'CheckFailed', 'CommandLost'];

const FATAL = ['HostKeyMismatch', 'UnknownHost', 'InvalidCommand', 'InvalidConfig'];

/** A step that ran out of time: its activity's time limit, or the host-side `timeout` of its command (exit 124). */
function isTimeout(err: unknown): boolean {
  if (err instanceof ActivityFailure) return isTimeout(err.cause);
  if (err instanceof TimeoutFailure) return true;
  return err instanceof ApplicationFailure && err.type === 'CommandFailed' && /: timed out after \d+s/.test(err.message);
}

function failureType(err: unknown): string | undefined {
  if (err instanceof ActivityFailure) return failureType(err.cause);
  if (err instanceof ApplicationFailure) return err.type ?? undefined;
  return undefined;
}

class MissingResult extends Error {
  constructor(readonly step: string) {
    super(`no result yet for step "${step}"`);
  }
}

/** Validates the run's one JSON object; every bad field is named, nothing runs. */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const { message, fields } = invalidInput(r.error.issues);
  throw ApplicationFailure.nonRetryable(message, 'InvalidInput', { fields });
}

function errorText(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return errorText(err.cause);
  if (err instanceof Error) return err.message;
  return String(err);
}
