// What a runbook declares: its name, input schema, hosts and leases, and its procedure (the steps and
// gates in order, cleanup, output). `runbook()` turns a definition into a workflow function.
import { ApplicationFailure, setWorkflowOptions } from '@temporalio/workflow';
import type { z } from 'zod';
import type { RunContext } from './context.js';
import type { LeaseRequest } from './host-lease.js';
import { invalidInput } from './input-fields.js';
import type { StepRecord, ApprovalRecord } from './messages.js';
import type { PlanItem } from './plan.js';
import { executeRun } from './run.js';
import type { RunbookStatusValue } from './search-attributes.js';
import type { AnyStep, Entry, Step } from './steps.js';
import { versioningBehaviorOf, type RunbookVersioning } from './versioning.js';

/** Common input fields every runbook accepts in addition to its own. */
export interface CommonInput {
  requestedBy: string;
  dryRun?: boolean;
}

/** A procedure as its manual page lists it. Falsy entries are dropped (steps that depend on the input). */
export interface Procedure<I> {
  steps: (Entry<I> | null | false | undefined)[];
  /** Steps run (best effort, not parked) after an abort or failure, before leases are released. */
  cleanup?: (Step<I, unknown> | null | false | undefined)[];
  /** What the run returns on success. */
  output?(ctx: RunContext<I>): unknown;
  /** The gate or step an operator's `restart` decision goes back to (the procedure's "--restart"). */
  restartFrom?: Entry<I>;
}

export interface RunbookDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  /**
   * Builds the input schema. Called once per run, to check its input, and then dropped: the worker's
   * sandbox evaluates a runbook's module afresh for every run and keeps it while the run is cached, and a
   * zod object schema built there at module level cost each parked run ~100–180 KiB (bench/scale.ts).
   */
  input: () => S;
  /** Inventory hosts this run touches (search attribute RunbookHosts; checked before anything runs). */
  hosts: (input: z.infer<S>) => string[];
  /**
   * Leased for the whole run: a host name is a host this run changes (exclusive: two runbooks never work
   * one host at once); `{host, sharedPath}` a path on a store it only writes into (shared with others doing the same).
   */
  leases?: (input: z.infer<S>) => LeaseRequest[];
  procedure: (input: z.infer<S>) => Procedure<z.infer<S>>;
  /**
   * Visible phases (search attribute RunbookPhase, current details): steps name theirs with `phase`; a parked
   * step shows `timeout` when its time limit ran out (partial, can be continued) and `error` otherwise; `done` at the end.
   */
  phases?: { error: string; timeout: string; done: string };
  /**
   * What a run does when a new build of the code becomes current (engine/versioning.ts): `pinned` (the
   * default, for anything that changes something) or `auto-upgrade` (short read-only runs).
   * workflows/index.ts states it again for the lazily loaded module (test/unit/versioning.test.ts checks).
   */
  versioning?: RunbookVersioning;
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

/** Turns a definition into a workflow function. Export it under the runbook's name. */
export function runbook<S extends z.ZodType>(def: RunbookDefinition<S>): (raw: unknown) => Promise<RunbookResult> {
  const fn = async (raw: unknown): Promise<RunbookResult> => executeRun(def as unknown as RunbookDefinition, raw);
  Object.defineProperty(fn, 'name', { value: def.name });
  setWorkflowOptions({ versioningBehavior: versioningBehaviorOf(def.versioning) }, fn);
  return fn;
}

/** Validates the run's one JSON object; every bad field is named, nothing runs. */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const { message, fields } = invalidInput(r.error.issues);
  throw ApplicationFailure.nonRetryable(message, 'InvalidInput', { fields });
}

export type { AnyStep };
