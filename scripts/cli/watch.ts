// `runbook watch <workflowId>`: a live view of one run in the terminal, redrawn in place (log-update): the
// steps with their outcomes, the running step's progress from its activity's heartbeat (bytes done of
// total as a bar, rate, time left, the command's latest line: a dump, a transfer, an image copy, ReaR,
// rsync), an open gate with the line that approves it, a parked step with the line that decides it. It exits
// when the run closes, with the run's outcome: 0 Completed, 1 Failed, 2 anything else (cancelled,
// terminated, timed out). Not a terminal: one line per change instead of a redraw.
import type { Command } from 'commander';
import logUpdate from 'log-update';
import pc from 'picocolors';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow/index.js';
import type { RunbookView } from '../../workflows/engine/messages.js';
import type { ProgressDetails } from '../../activities/progress.js';
import { renderStatus } from './output.js';
import { withClient } from './session.js';

interface Pending {
  activity: string;
  attempt: number;
  /** The latest heartbeat's details, as the activity sent them. */
  details?: Partial<ProgressDetails> & { lastLine?: string; bytes?: number; stdoutBytes?: number; status?: string };
}

async function pendingOf(c: Client, d: WorkflowExecutionDescription): Promise<Pending[]> {
  const out: Pending[] = [];
  for (const a of d.raw.pendingActivities ?? []) {
    const payloads = a.heartbeatDetails?.payloads;
    const decoded = payloads?.length ? await decodeArrayFromPayloads(c.options.loadedDataConverter, payloads).catch(() => []) : [];
    out.push({ activity: a.activityType?.name ?? '?', attempt: a.attempt ?? 1, details: decoded[0] as Pending['details'] });
  }
  return out;
}

function progressBar(done: number, total: number, width = 30): string {
  const filled = Math.min(width, Math.round((done / total) * width));
  return `${pc.cyan('█'.repeat(filled))}${pc.dim('░'.repeat(width - filled))}`;
}

export function renderWatch(id: string, state: string, v: RunbookView | undefined, pending: Pending[], elapsedS: number): string {
  const lines = v ? [renderStatus(v, id)] : [`${pc.bold(id)}  ${state}`];
  for (const p of pending) {
    const d = p.details;
    const retry = p.attempt > 1 ? pc.yellow(` (attempt ${p.attempt})`) : '';
    if (d?.progress) {
      const bar = d.bytesTotal ? `${progressBar(d.bytesDone ?? 0, d.bytesTotal)} ` : '';
      lines.push(`  ${pc.cyan('⇢')} ${v?.currentStep ?? p.activity}${retry}: ${bar}${d.progress}`);
    } else if (d?.status) {
      lines.push(`  ${pc.cyan('⇢')} ${v?.currentStep ?? p.activity}${retry}: ${d.status}`);
    } else if (d?.stdoutBytes !== undefined) {
      lines.push(`  ${pc.cyan('⇢')} ${v?.currentStep ?? p.activity}${retry}: ${d.stdoutBytes} bytes of output so far`);
    }
    const line = d?.line ?? d?.lastLine;
    if (line) lines.push(pc.dim(`      ${line.slice(0, 160)}`));
  }
  lines.push(pc.dim(`watching for ${elapsedS} s; Ctrl-C stops watching (the run goes on)`));
  return lines.join('\n');
}

const OUTCOME_CODE: Record<string, number> = { COMPLETED: 0, FAILED: 1 };

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description("live progress of one run (steps, bytes done of total, rate, time left, the gate); exits with the run's outcome")
    .argument('<workflowId>')
    .option('--interval <seconds>', 'redraw every this many seconds', '1')
    .action(async (id: string, o: { interval: string }) => {
      const everyMs = Math.max(0.2, Number(o.interval) || 1) * 1000;
      const tty = Boolean(process.stdout.isTTY);
      const started = Date.now();
      const code = await withClient(async (c) => {
        const h = c.workflow.getHandle(id);
        let last = '';
        for (;;) {
          const d = await h.describe();
          const state = d.status.name;
          const [v, pending] = await Promise.all([h.query<RunbookView>('status').catch(() => undefined), pendingOf(c, d)]);
          const screen = renderWatch(id, state, v, pending, Math.round((Date.now() - started) / 1000));
          if (tty) logUpdate(screen);
          else {
            // Without a terminal: the progress lines only when they change (no redraw codes in a log).
            const now = screen.split('\n').slice(0, -1).join('\n');
            if (now !== last) console.log(now);
            last = now;
          }
          if (state !== 'RUNNING') {
            if (tty) logUpdate.done();
            const outcome = v?.status ?? state.toLowerCase();
            const why =
              state === 'COMPLETED'
                ? ''
                : await h.result().then(
                    () => '',
                    (err: Error) => (err.cause as Error | undefined)?.message ?? err.message,
                  );
            console.log(`${state === 'COMPLETED' ? pc.green('✔') : pc.red('✖')} ${id} ended ${outcome}${why ? `: ${why}` : ''}`);
            return OUTCOME_CODE[state] ?? 2;
          }
          await new Promise((r) => setTimeout(r, everyMs));
        }
      });
      process.exitCode = code;
    });
}
