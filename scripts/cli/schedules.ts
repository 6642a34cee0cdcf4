// Temporal Schedules for any runbook (periodic backups, periodic restore tests): the server starts the
// runs; a worker on the task queue is all that is needed. Input is validated like `start`.
import type { Command } from 'commander';
import pc from 'picocolors';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { readInput, UsageError } from './input.js';
import { print } from './output.js';
import { TASK_QUEUE, withClient } from './session.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
const overlaps: Record<string, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
};

export function registerSchedules(program: Command): void {
  const schedule = program.command('schedule').description('periodic runbook runs (Temporal Schedules)');

  schedule
    .command('create')
    .argument('<scheduleId>')
    .argument('<runbook>')
    .option('-i, --input <file|json>', 'one JSON object: a file path, or inline JSON')
    .option('--set <key=value>', 'set one input field (repeatable)', collect)
    .option('--cron <expr>', 'cron expression, e.g. "0 2 * * *" (UTC unless --timezone)')
    .option('--every <duration>', 'interval, e.g. 1d, 6h')
    .option('--timezone <tz>', 'IANA time zone for --cron')
    .option('--overlap <policy>', 'skip | buffer-one: what happens when the previous run is still going', 'skip')
    .option('--paused', 'create paused')
    .option('--note <text>', 'why this schedule exists')
    .option('--json', 'machine-readable output')
    .action(async (scheduleId: string, runbook: string, o: { input?: string; set?: string[]; cron?: string; every?: string; timezone?: string; overlap: string; paused?: boolean; note?: string; json?: boolean }) => {
      const input = readInput(runbook, o);
      if (!o.cron === !o.every) throw new UsageError('give exactly one of --cron or --every');
      const overlap = overlaps[o.overlap];
      if (overlap === undefined) throw new UsageError(`--overlap must be skip or buffer-one, got "${o.overlap}"`);
      await withClient(async (c) => {
        const h = await c.schedule.create({
          scheduleId,
          spec: o.cron ? { cronExpressions: [o.cron], timezone: o.timezone } : { intervals: [{ every: o.every! }] },
          action: { type: 'startWorkflow', workflowType: runbook, args: [input], taskQueue: TASK_QUEUE, workflowId: scheduleId },
          policies: { overlap, catchupWindow: '1 hour' },
          state: { paused: Boolean(o.paused), note: o.note },
        });
        print(o.json, { scheduleId: h.scheduleId }, () => pc.green(`schedule ${scheduleId} created for ${runbook}`));
      });
    });

  schedule
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      await withClient(async (c) => {
        const rows: { scheduleId: string; runbook?: string; paused: boolean; next?: string; note?: string }[] = [];
        for await (const s of c.schedule.list()) {
          rows.push({
            scheduleId: s.scheduleId,
            runbook: s.action?.type === 'startWorkflow' ? s.action.workflowType : undefined,
            paused: s.state.paused,
            next: s.info.nextActionTimes[0]?.toISOString(),
            note: s.state.note,
          });
        }
        print(o.json, rows, () => rows.map((r) => `${r.scheduleId.padEnd(30)} ${(r.runbook ?? '').padEnd(16)} ${r.paused ? pc.yellow('paused') : 'active'}  next ${r.next ?? '-'}`).join('\n') || 'no schedules');
      });
    });

  for (const [name, act] of [
    ['pause', (h: { pause: (n?: string) => Promise<void> }, note?: string) => h.pause(note)],
    ['unpause', (h: { unpause: (n?: string) => Promise<void> }, note?: string) => h.unpause(note)],
  ] as const) {
    schedule
      .command(name)
      .argument('<scheduleId>')
      .option('--note <text>', 'why')
      .action(async (id: string, o: { note?: string }) => {
        await withClient(async (c) => {
          await act(c.schedule.getHandle(id), o.note);
          console.log(`${name}d ${id}`);
        });
      });
  }

  schedule
    .command('trigger')
    .description('start one run now (the overlap policy still applies)')
    .argument('<scheduleId>')
    .action(async (id: string) => {
      await withClient(async (c) => {
        await c.schedule.getHandle(id).trigger(ScheduleOverlapPolicy.SKIP);
        console.log(`triggered ${id}`);
      });
    });

  schedule
    .command('delete')
    .argument('<scheduleId>')
    .action(async (id: string) => {
      await withClient(async (c) => {
        await c.schedule.getHandle(id).delete();
        console.log(`deleted ${id}`);
      });
    });
}
