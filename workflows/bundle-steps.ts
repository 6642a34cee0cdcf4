// Steps every backup runbook ends with: check the sealed bundle on the store before anything older is
// pruned, and on failure or abort mark the unsealed one incomplete.
import { checkBundle, markIncomplete } from './backup-store.js';
import type { CommandResult } from './commands.js';
import { step, type RunContext, type StepEntry } from './runbook.js';

export function checkSealedBundle<I>(store: string, bundle: (ctx: RunContext<I>) => string): StepEntry<I> {
  return step<I>('check the sealed bundle', (ctx) => checkBundle(store, bundle(ctx)), {
    idempotent: true,
    readOnly: true,
    parse: (r: CommandResult[]) => JSON.parse(r.map((x) => x.stdoutTail).join('')) as { problems: string[] },
    expect: (v) => {
      const problems = (v as { problems: string[] }).problems;
      return problems.length ? `the new bundle does not check out: ${problems.join('; ')}` : undefined;
    },
  });
}

export function markBundleIncomplete<I>(store: string, bundle: (ctx: RunContext<I>) => string): StepEntry<I> {
  return step<I>('mark the bundle incomplete', (ctx) => markIncomplete(store, bundle(ctx), `run ${ctx.workflowId} ended before the bundle was sealed`), {
    idempotent: true,
  });
}
