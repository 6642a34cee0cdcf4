// The operator CLI (`npx runbook …`). Same schemas and messages as the Web UI; `--json` for scripts.
import { Command } from 'commander';
import pc from 'picocolors';
import { runbookInputs } from '../../workflows/catalog.js';
import { registerGates } from './gates.js';
import { schemaSummary, UsageError } from './input.js';
import { print } from './output.js';
import { registerRollout } from './rollout.js';
import { registerRuns } from './runs.js';
import { registerSchedules } from './schedules.js';
import { registerWatch } from './watch.js';

const program = new Command('runbook').description('Disaster-recovery runbooks on Temporal').showHelpAfterError();

program
  .command('list')
  .description('the runbooks you can start, with their input fields (? = optional)')
  .option('--json', 'machine-readable output')
  .action((o: { json?: boolean }) => {
    const rows = Object.keys(runbookInputs).map((name) => ({ runbook: name, input: schemaSummary(name) }));
    print(o.json, rows, () => rows.map((r) => `${pc.bold(r.runbook)}\n  ${r.input.join('\n  ')}`).join('\n'));
  });

registerRuns(program);
registerGates(program);
registerSchedules(program);
registerRollout(program);
registerWatch(program);

program.parseAsync().catch((err: Error & { cause?: Error }) => {
  const msg = err instanceof UsageError ? err.message : `${err.message}${err.cause?.message ? `: ${err.cause.message}` : ''}`;
  console.error(pc.red(`runbook: ${msg}`));
  process.exit(err instanceof UsageError ? 2 : 1);
});
