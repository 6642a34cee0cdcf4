// Runs: start, plan, status (--follow), pending, runs, history export.
import type { Command } from 'commander';
import pc from 'picocolors';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { RunbookView } from '../../workflows/engine/messages.js';
import type { PlanItem } from '../../workflows/engine/runbook.js';
import { RunbookGate, RunbookName, RunbookStatus } from '../../workflows/engine/search-attributes.js';
import { describingWorkflowId, runSummary } from './run-summary.js';
import { readInput, UsageError } from './input.js';
import { print, renderStatus, runUrl } from './output.js';
import { unservedPin } from './rollout.js';
import { TASK_QUEUE, withClient } from './session.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function renderPlan(r: { plan: PlanItem[]; fingerprint: string }): string {
  return [
    ...r.plan.flatMap((p) => [
      `${p.kind === 'gate' ? pc.yellow('GATE') : pc.bold(p.effect ?? '')} ${p.name}${p.danger ? pc.red(' [DANGER]') : ''}`,
      ...p.commands.map((x) => `    ${x}`),
    ]),
    `fingerprint ${r.fingerprint}`,
  ].join('\n');
}

export function registerRuns(program: Command): void {
  program
    .command('start')
    .description('start a runbook; the input is validated here first and nothing starts if it is wrong')
    .argument('<runbook>')
    .option('-i, --input <file|json>', 'one JSON object: a file path, or inline JSON')
    .option('--set <key=value>', 'set one input field (repeatable; JSON values allowed)', collect)
    .option('--plan', 'dry run: print the plan and its fingerprint, change nothing')
    .option('--id <workflowId>', 'workflow id (default <runbook>-<time>)')
    .option('--wait', 'wait for the result')
    .option('--json', 'machine-readable output')
    .action(async (runbook: string, o: { input?: string; set?: string[]; plan?: boolean; id?: string; wait?: boolean; json?: boolean }) => {
      const input = { ...readInput(runbook, o), ...(o.plan ? { dryRun: true } : {}) };
      await withClient(async (c) => {
        const workflowId = o.id ?? describingWorkflowId(runbook, input);
        const h = await c.workflow.start(runbook, { taskQueue: TASK_QUEUE, workflowId, args: [input], ...runSummary(runbook, input, 'runbook start') });
        if (o.plan) {
          const r = (await h.result()) as { plan: PlanItem[]; fingerprint: string };
          return print(o.json, r, () => renderPlan(r));
        }
        const result = o.wait ? await h.result() : undefined;
        print(o.json, { workflowId, runId: h.firstExecutionRunId, url: runUrl(workflowId), result }, () =>
          [`started ${pc.bold(workflowId)}`, runUrl(workflowId), ...(result ? [JSON.stringify(result, null, 2)] : [])].join('\n'),
        );
      });
    });

  program
    .command('plan')
    .description('dry run: read-only preflight runs for real; prints the plan with the exact commands and its fingerprint')
    .argument('<runbook>')
    .option('-i, --input <file|json>', 'one JSON object: a file path, or inline JSON')
    .option('--set <key=value>', 'set one input field (repeatable)', collect)
    .option('--json', 'machine-readable output')
    .action(async (runbook: string, o: { input?: string; set?: string[]; json?: boolean }) => {
      const input = { ...readInput(runbook, o), dryRun: true };
      await withClient(async (c) => {
        const r = (await c.workflow.execute(runbook, {
          taskQueue: TASK_QUEUE,
          workflowId: `${runbook}-plan-${Date.now()}`,
          args: [input],
          ...runSummary(runbook, input, 'runbook plan'),
        })) as {
          plan: PlanItem[];
          fingerprint: string;
        };
        print(o.json, r, () => renderPlan(r));
      });
    });

  program
    .command('status')
    .description('steps with outcomes, open gate, parked step, last output')
    .argument('<workflowId>')
    .option('--follow', 'redraw until the run ends')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { follow?: boolean; json?: boolean }) => {
      await withClient(async (c) => {
        const h = c.workflow.getHandle(id);
        // A query to a run pinned to a build no worker serves would wait for its RPC deadline: say why.
        const unserved = await unservedPin(c, id);
        if (unserved) throw new UsageError(`${id} is ${unserved}`);
        for (;;) {
          const v = await h.query<RunbookView>('status');
          if (o.follow && !o.json && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
          print(o.json, v, () => renderStatus(v, id));
          const open = (await h.describe()).status.name === 'RUNNING';
          if (!o.follow || !open) return;
          await new Promise((r) => setTimeout(r, 1000));
        }
      });
    });

  const listRuns = async (query: string, asJson?: boolean): Promise<void> => {
    await withClient(async (c) => {
      const rows: { workflowId: string; runbook?: string; status: string; gate?: string; started: string; url: string }[] = [];
      for await (const w of c.workflow.list({ query })) {
        const sa = w.typedSearchAttributes;
        rows.push({
          workflowId: w.workflowId,
          runbook: sa.get(RunbookName) ?? w.type,
          status: sa.get(RunbookStatus) ?? w.status.name,
          gate: sa.get(RunbookGate),
          started: w.startTime.toISOString(),
          url: runUrl(w.workflowId),
        });
        if (rows.length >= 200) break;
      }
      print(asJson, rows, () =>
        rows.length
          ? rows.map((r) => `${r.started}  ${(r.runbook ?? '').padEnd(14)} ${r.status.padEnd(17)} ${(r.gate ?? '').padEnd(18)} ${r.workflowId}`).join('\n')
          : 'nothing',
      );
    });
  };

  program
    .command('pending')
    .description('everything waiting for a human: open gates and parked steps, across runbooks')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => listRuns('(RunbookStatus = "AwaitingApproval" OR RunbookStatus = "Parked") AND ExecutionStatus = "Running"', o.json));

  program
    .command('runs')
    .description('runbook runs, newest first')
    .option('--status <status>', 'Running | AwaitingApproval | Parked | Completed | Failed | Aborted')
    .option('--query <visibilityQuery>', 'a raw visibility query')
    .option('--json', 'machine-readable output')
    .action((o: { status?: string; query?: string; json?: boolean }) =>
      listRuns(o.query ?? (o.status ? `RunbookStatus = "${o.status.replace(/"/g, '')}"` : 'RunbookName IS NOT NULL'), o.json),
    );

  program
    .command('history')
    .description('history export <workflowId> > file.json (the format `temporal workflow show -o json` prints; replayable)')
    .argument('<action>', 'export')
    .argument('<workflowId>')
    .action(async (action: string, id: string) => {
      if (action !== 'export') throw new Error(`unknown history action "${action}"`);
      await withClient(async (c) => {
        process.stdout.write(historyToJSON(await c.workflow.getHandle(id).fetchHistory()) + '\n');
      });
    });
}
