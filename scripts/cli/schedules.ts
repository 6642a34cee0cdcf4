// Temporal Schedules for any runbook (periodic backups, periodic restore tests): the server starts the
// runs; a worker on the task queue is all that is needed. Input is validated like `start`.
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import pc from 'picocolors';
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { readInput, schemaOf, UsageError } from './input.js';
import { runSummary } from './run-summary.js';
import { print } from './output.js';
import { TASK_QUEUE, withClient } from './session.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
const overlaps: Record<string, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
};

interface PresetSchedule {
  scheduleId: string;
  runbook: string;
  cron: string;
  note: string;
  /** Input fields before --set; `requestedBy` defaults to whoever creates the schedule. */
  input: Record<string, unknown>;
}

/**
 * Named sets of schedules an SRE asks for by name: `runbook schedule create lava-nightly`. Overlap is
 * SKIP for all: a backup still running when the next one is due is never stacked behind or beside it.
 */
export const SCHEDULE_PRESETS: Record<string, PresetSchedule[]> = {
  'lava-nightly': [
    {
      scheduleId: 'lava-nightly-backup',
      runbook: 'lavaMasterBackup',
      cron: '0 2 * * *',
      note: 'nightly LAVA master backup',
      input: { master: 'lava-master', store: 'backup-store' },
    },
    {
      scheduleId: 'lava-weekly-verify',
      runbook: 'lavaBackupVerify',
      cron: '0 5 * * 0',
      note: 'weekly restore test of the newest LAVA bundle',
      input: { store: 'backup-store', bundle: 'latest' },
    },
  ],
  'rear-weekly-drill': [
    {
      scheduleId: 'rear-weekly-drill',
      runbook: 'rearRecoveryDrill',
      cron: '0 4 * * 6',
      note: "weekly recovery drill: the controller's latest ReaR backup recovered into a throwaway copy, booted, removed",
      input: { hypervisor: 'hypervisor', domain: 'controller-0', store: 'backup-store' },
    },
  ],
};

/** `--set` pairs apply to each preset schedule whose runbook has that field. */
function presetInput(p: PresetSchedule, sets: string[]): Record<string, unknown> {
  const fields = Object.keys((schemaOf(p.runbook) as unknown as { shape?: Record<string, unknown> }).shape ?? {});
  const own = sets.filter((s) => fields.includes(s.slice(0, s.indexOf('=')).split('.')[0]!));
  return readInput(p.runbook, { input: JSON.stringify({ requestedBy: userInfo().username, ...p.input }), set: own });
}

async function createSchedule(
  c: Client,
  s: {
    scheduleId: string;
    runbook: string;
    input: unknown;
    cron?: string;
    every?: string;
    timezone?: string;
    overlap: ScheduleOverlapPolicy;
    paused?: boolean;
    note?: string;
  },
): Promise<string> {
  const h = await c.schedule.create({
    scheduleId: s.scheduleId,
    spec: s.cron ? { cronExpressions: [s.cron], timezone: s.timezone } : { intervals: [{ every: s.every! }] },
    action: {
      type: 'startWorkflow',
      workflowType: s.runbook,
      args: [s.input],
      taskQueue: TASK_QUEUE,
      workflowId: s.scheduleId,
      ...runSummary(s.runbook, s.input as Record<string, unknown>, `schedule ${s.scheduleId}`),
    },
    policies: { overlap: s.overlap, catchupWindow: '1 hour' },
    state: { paused: Boolean(s.paused), note: s.note },
  });
  return h.scheduleId;
}

export function registerSchedules(program: Command): void {
  const schedule = program.command('schedule').description('periodic runbook runs (Temporal Schedules)');

  schedule
    .command('create')
    .description(`create a schedule for a runbook, or a preset set of schedules (${Object.keys(SCHEDULE_PRESETS).join(', ')})`)
    .argument('<scheduleId>', 'schedule id, or a preset name')
    .argument('[runbook]', 'workflow type to run (omit for a preset)')
    .option('-i, --input <file|json>', 'one JSON object: a file path, or inline JSON')
    .option('--set <key=value>', 'set one input field (repeatable)', collect)
    .option('--cron <expr>', 'cron expression, e.g. "0 2 * * *" (UTC unless --timezone)')
    .option('--every <duration>', 'interval, e.g. 1d, 6h')
    .option('--timezone <tz>', 'IANA time zone for --cron')
    .option('--overlap <policy>', 'skip | buffer-one: what happens when the previous run is still going', 'skip')
    .option('--paused', 'create paused')
    .option('--note <text>', 'why this schedule exists')
    .option('--json', 'machine-readable output')
    .action(
      async (
        scheduleId: string,
        runbook: string | undefined,
        o: {
          input?: string;
          set?: string[];
          cron?: string;
          every?: string;
          timezone?: string;
          overlap: string;
          paused?: boolean;
          note?: string;
          json?: boolean;
        },
      ) => {
        const overlap = overlaps[o.overlap];
        if (overlap === undefined) throw new UsageError(`--overlap must be skip or buffer-one, got "${o.overlap}"`);
        if (!runbook) {
          const preset = SCHEDULE_PRESETS[scheduleId];
          if (!preset) throw new UsageError(`give a runbook, or one of the presets: ${Object.keys(SCHEDULE_PRESETS).join(', ')}`);
          if (o.cron || o.every || o.input) throw new UsageError('a preset has its own times and input; change them with --set, --timezone, --paused');
          // Every input is validated before the first schedule is created: all or nothing.
          const planned = preset.map((p) => ({ ...p, input: presetInput(p, o.set ?? []) }));
          await withClient(async (c) => {
            const made: string[] = [];
            for (const p of planned) made.push(await createSchedule(c, { ...p, overlap: ScheduleOverlapPolicy.SKIP, timezone: o.timezone, paused: o.paused }));
            print(
              o.json,
              planned.map((p) => ({ scheduleId: p.scheduleId, runbook: p.runbook, cron: p.cron })),
              () =>
                planned
                  .map((p) => pc.green(`schedule ${p.scheduleId} created: ${p.runbook} at "${p.cron}"${o.timezone ? ` ${o.timezone}` : ' UTC'}, overlap skip`))
                  .join('\n'),
            );
          });
          return;
        }
        const input = readInput(runbook, o);
        if (!o.cron === !o.every) throw new UsageError('give exactly one of --cron or --every');
        await withClient(async (c) => {
          const id = await createSchedule(c, {
            scheduleId,
            runbook,
            input,
            cron: o.cron,
            every: o.every,
            timezone: o.timezone,
            overlap,
            paused: o.paused,
            note: o.note,
          });
          print(o.json, { scheduleId: id }, () => pc.green(`schedule ${scheduleId} created for ${runbook}`));
        });
      },
    );

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
        print(
          o.json,
          rows,
          () =>
            rows
              .map((r) => `${r.scheduleId.padEnd(30)} ${(r.runbook ?? '').padEnd(16)} ${r.paused ? pc.yellow('paused') : 'active'}  next ${r.next ?? '-'}`)
              .join('\n') || 'no schedules',
        );
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
    .description("start one run now; the schedule's overlap policy applies (a run still going means: skipped)")
    .argument('<scheduleId>')
    .action(async (id: string) => {
      await withClient(async (c) => {
        const h = c.schedule.getHandle(id);
        // The SDK's trigger() defaults to ALLOW_ALL, which would start a second backup beside a running
        // one. Pass the schedule's own policy.
        const { policies } = await h.describe();
        await h.trigger(policies.overlap);
        console.log(`triggered ${id} (overlap ${String(policies.overlap).toLowerCase()})`);
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
