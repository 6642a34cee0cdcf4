// What a procedure file imports: the words of a procedure (read, change, once, gate, activity, onlyIf)
// and runbook() to turn it into a workflow. The machinery behind them lives in this folder, one concern
// per module: run.ts (a run start to end), step-runner.ts, gate-runner.ts, decisions.ts, handlers.ts,
// plan.ts (rendering and fingerprints), visibility.ts, host-lease.ts.
export { activity, change, gate, once, read, type ActivityCall, type AnyStep, type Effect, type Entry, type Gate, type Step } from './steps.js';
export { onlyIf, type Condition, type RunContext } from './context.js';
export { since } from './patches.js';
export { parseInput, runbook, type CommonInput, type Procedure, type RunbookDefinition, type RunbookResult } from './definition.js';
export type { PlanItem } from './plan.js';
