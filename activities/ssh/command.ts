// runCommand: executes one Command (remote over SSH, or local with execa) with one contract: heartbeats
// with progress, cancellation that kills the whole process group, full output in the audit store, and a
// small result (exit code, duration, sha256, 4 KB tails). A non-zero exit is a CommandFailed failure,
// retryable only for idempotent steps.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { Command, CommandResult, LocalCommand, RemoteCommand } from '../../workflows/engine/commands.js';
import { AuditStore, type CapturedStream } from '../runbook/audit-store.js';
import { endedStatus, hostRunKey, STDIN_MISMATCH, stdinTag, STEP_SCRIPT } from './remote-step.js';
import { InvalidCommandError, quoteArgv, remoteLine } from './shell-quote.js';
import type { SshPool } from './ssh.js';

export interface RunCommandRequest {
  command: Command;
  /** Names this execution; the same key on a retry re-attaches instead of running again. */
  runKey: string;
  /** Not idempotent: a failure is never retried automatically. */
  once: boolean;
  step: string;
  /**
   * The run id a reset keeps (workflowInfo().originalExecutionRunId): the key names it instead of the
   * current run's, so a reset run finds what the run before it started and re-attaches, never repeats it.
   */
  originalRunId?: string;
}

const HEARTBEAT_MS = 3000;

/** The argv that really runs: sudo, host-enforced timeout and environment are part of it, visibly. */
export function effectiveArgv(c: Command): string[] {
  validate(c);
  const env = Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${v}`);
  let argv = env.length ? ['env', ...env, ...c.argv] : [...c.argv];
  if (c.timeoutSeconds) argv = ['timeout', '-k', '10', String(c.timeoutSeconds), ...argv];
  if (c.kind === 'remote' && c.sudo) argv = ['sudo', '-n', '--', ...argv];
  return argv;
}

function validate(c: Command): void {
  if (!c || !Array.isArray(c.argv) || c.argv.length === 0 || c.argv.some((a) => typeof a !== 'string')) {
    throw new InvalidCommandError('argv must be a non-empty array of strings');
  }
  for (const k of Object.keys(c.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new InvalidCommandError(`bad environment variable name: ${k}`);
  }
  if (c.timeoutSeconds !== undefined && !(Number.isInteger(c.timeoutSeconds) && c.timeoutSeconds > 0)) {
    throw new InvalidCommandError('timeoutSeconds must be a positive integer');
  }
}

export function makeRunCommand(ssh: SshPool, audit: AuditStore) {
  return async function runCommand(req: RunCommandRequest): Promise<CommandResult> {
    const ctx = Context.current();
    // Activities always run for a workflow here; the key must name that exact run.
    const workflowId = ctx.info.workflowExecution?.workflowId ?? 'no-workflow';
    const runId = req.originalRunId || (ctx.info.workflowExecution?.runId ?? 'no-run');
    const key = hostRunKey(workflowId, runId, req.runKey);
    let argv: string[];
    let line = '';
    try {
      argv = effectiveArgv(req.command);
      if (req.command.kind === 'remote') line = stepLine(req.command, argv, key, req.once);
    } catch (err) {
      throw ApplicationFailure.create({ message: (err as Error).message, type: 'InvalidCommand', nonRetryable: true });
    }
    const sink = audit.open(workflowId, req.runKey, req.step);
    const started = Date.now();
    // A quick one-shot step runs this as a local activity, which has no heartbeat to record.
    const beat = (d: unknown): void => (ctx.info.isLocal ? undefined : ctx.heartbeat(d));
    const hb = setInterval(
      () => beat({ stdoutBytes: sink.stdout.bytes, stderrBytes: sink.stderr.bytes, lastLine: sink.stdout.lastLine() || sink.stderr.lastLine() }),
      HEARTBEAT_MS,
    );
    beat({ starting: true });
    try {
      const host = req.command.kind === 'remote' ? req.command.host : 'worker';
      const { exitCode, reattached } =
        req.command.kind === 'remote' ? await runRemote(ssh, req.command, line, key, req.once, sink, ctx) : await runLocal(req.command, argv, sink, ctx);
      return await settleCommand(ctx, audit, workflowId, req, sink, { host, argv, exitCode, started, reattached, nonRetryable: req.once });
    } finally {
      clearInterval(hb);
    }
  };
}

/** The host-side step protocol's command line for one command (validated: quoting and length). */
function stepLine(c: RemoteCommand, argv: string[], key: string, once: boolean): string {
  return remoteLine(['sh', '-c', STEP_SCRIPT, 'rb-step', key, once ? 'once' : 'again', c.stdin !== undefined ? stdinTag(c.stdin) : '0', c.cwd ?? '', ...argv]);
}

type AuditSink = ReturnType<AuditStore['open']>;

/**
 * The end of every command, run-key (runCommand) or quick (runQuickCommand): the small result from its
 * streams, recorded in the audit store and the log; a non-zero exit is CommandFailed with the result attached.
 */
export async function settleCommand(
  ctx: Context,
  audit: AuditStore,
  workflowId: string,
  req: RunCommandRequest,
  sink: AuditSink,
  run: { host: string; argv: string[]; exitCode: number; started: number; reattached: boolean; nonRetryable: boolean; quick?: boolean },
): Promise<CommandResult> {
  const result: CommandResult = {
    host: run.host,
    argv: run.argv,
    exitCode: run.exitCode,
    durationMs: Date.now() - run.started,
    startedAt: new Date(run.started).toISOString(),
    stdoutTail: sink.stdout.tailText(),
    stderrTail: sink.stderr.tailText(),
    stdoutBytes: sink.stdout.bytes,
    stderrBytes: sink.stderr.bytes,
    stdoutSha256: await sink.stdout.close(),
    auditRef: sink.ref,
    reattached: run.reattached,
  };
  await sink.stderr.close();
  audit.record(workflowId, { ...result, step: req.step, runKey: req.runKey });
  ctx.log.info('command finished', {
    host: run.host,
    argv: quoteArgv(run.argv).slice(0, 300),
    exitCode: run.exitCode,
    durationMs: result.durationMs,
    ...(run.quick ? { quick: true } : { reattached: run.reattached }),
  });
  if (run.exitCode !== 0) {
    const timeout = req.command.timeoutSeconds;
    const why = run.exitCode === 124 && timeout ? `timed out after ${timeout}s` : `exit ${run.exitCode}`;
    const last = sink.stderr.failureLine() || sink.stdout.failureLine();
    throw ApplicationFailure.create({
      message: `${run.host}: ${why}${last ? `: ${last}` : ''}`,
      type: 'CommandFailed',
      nonRetryable: run.nonRetryable,
      details: [result],
    });
  }
  return result;
}

async function runRemote(
  ssh: SshPool,
  c: RemoteCommand,
  line: string,
  key: string,
  once: boolean,
  sink: { stdout: CapturedStream; stderr: CapturedStream },
  ctx: Context,
): Promise<{ exitCode: number; reattached: boolean }> {
  ssh.host(c.host); // unknown host: non-retryable, before anything is attempted
  const signal = ctx.cancellationSignal;
  const killOnCancel = (): void => {
    // The remote process group outlives our channel by design (setsid); cancelling must end it explicitly.
    void ssh.exec(c.host, quoteArgv(['sh', '-c', STEP_SCRIPT, 'rb-step', key, 'kill', '0', '']), {}).catch(() => undefined);
  };
  signal.addEventListener('abort', killOnCancel, { once: true });
  try {
    const outcome = await ssh.exec(c.host, line, {
      stdout: (b) => sink.stdout.write(b),
      stderr: (b) => sink.stderr.write(b),
      stdin: c.stdin,
      signal,
    });
    if (signal.aborted) throw new CancelledFailure(String(signal.reason ?? 'cancelled'));
    if (outcome.code === 95 && sink.stderr.tailText().includes(STDIN_MISMATCH)) throw stdinMismatch(c.host, sink.stderr.tailText());
    const ended = endedStatus(outcome.code);
    if (ended) return ended;
    let status = '';
    await ssh.exec(c.host, quoteArgv(['sh', '-c', STEP_SCRIPT, 'rb-step', key, 'status', '0', '']), {
      stdout: (b) => (status += b.toString()),
    });
    const m = /^rc (\d+) starts (\d+)/.exec(status.trim());
    if (m) return { exitCode: Number(m[1]), reattached: Number(m[2]) > 1 };
    // The host claims the key only after the whole stdin arrived: nothing ran, so the next attempt starts afresh.
    if (status.trim() === 'absent') throw new Error(`${c.host}: the link was cut before the command started (stdin incomplete); nothing ran`);
    if (status.trim() === 'running') throw new Error(`${c.host}: output stream ended while the command still runs; will re-attach`);
    // An idempotent command that vanished is simply run again by the next attempt (mode "again" supersedes it).
    if (!once) throw new Error(`${c.host}: the command's process is gone without an exit status; an idempotent command, so it runs again`);
    throw ApplicationFailure.create({
      message:
        status.trim() === 'unstarted'
          ? `${c.host}: the link was cut while this one-shot command was being started: the host recorded it (~/.runbooks/runs/${key}) ` +
            `but has no process id and no exit status, so it may or may not have run. Check the host before deciding retry.`
          : `${c.host}: the command's process is gone without an exit status (killed, or the host rebooted). ` + `Check the host before deciding retry.`,
      type: 'CommandLost',
      nonRetryable: true,
    });
  } finally {
    signal.removeEventListener('abort', killOnCancel);
  }
}

/** The host refused a stdin that did not arrive whole: nothing ran, and the same bytes would arrive the same way. */
export function stdinMismatch(host: string, stderr: string): ApplicationFailure {
  const line = stderr.split('\n').find((l) => l.startsWith(STDIN_MISMATCH)) ?? STDIN_MISMATCH;
  return ApplicationFailure.create({
    message: `${host}: the command's stdin did not arrive whole (${line.slice(STDIN_MISMATCH.length + 1)})`,
    type: 'StdinMismatch',
    nonRetryable: true,
  });
}

async function runLocal(
  c: LocalCommand,
  argv: string[],
  sink: { stdout: CapturedStream; stderr: CapturedStream },
  ctx: Context,
): Promise<{ exitCode: number; reattached: boolean }> {
  const child = execa(argv[0]!, argv.slice(1), {
    input: c.stdin ?? '',
    cwd: c.cwd,
    reject: false,
    detached: true, // own process group, so cancelling ends the command and everything it started
    stripFinalNewline: false,
    buffer: false,
  });
  child.stdout?.on('data', (b: Buffer) => sink.stdout.write(b));
  child.stderr?.on('data', (b: Buffer) => sink.stderr.write(b));
  const onAbort = (): void => {
    if (child.pid) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  };
  ctx.cancellationSignal.addEventListener('abort', onAbort, { once: true });
  try {
    const r = await child;
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('cancelled');
    if (r.failed && r.exitCode === undefined) {
      throw ApplicationFailure.create({ message: `worker: ${r.shortMessage}`, type: 'CommandFailed', nonRetryable: true });
    }
    return { exitCode: r.exitCode ?? 255, reattached: false };
  } finally {
    ctx.cancellationSignal.removeEventListener('abort', onAbort);
  }
}
