// runQuickCommand: a remote command of a `quick` step (idempotent, done in seconds), run as a LOCAL
// activity: it completes inside the workflow task that scheduled it, with no activity task round trip
// through the server, and execs straight on the pooled ssh2 connection without the host-side run-key
// protocol (a dozen short processes per command). Both are only sound because the step is idempotent:
// after a worker crash or a cut link the command simply runs again. The worker's audit store still gets
// every command (host, argv, exit code, duration, output), as for runCommand; the host's own
// ~/.runbooks/audit.log only lists run-key executions, i.e. what could be re-attached to.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { CommandResult, RemoteCommand } from '../../workflows/engine/commands.js';
import type { AuditStore } from '../runbook/audit-store.js';
import { effectiveArgv, settleCommand, stdinMismatch, type RunCommandRequest } from './command.js';
import { STDIN_MISMATCH, stdinTag } from './remote-step.js';
import { quoteArg, quoteArgv, remoteLine } from './shell-quote.js';
import type { SshPool } from './ssh.js';

// sshd starts every session command in a session of its own (setsid), so the login shell's pid is the
// process group of everything the command starts: reported first on stderr (and stripped there), it is
// what a cancellation kills. `exec` keeps it one process: no wrapper left running beside the command.
const PID_PREFIX = 'rb-pid ';

// Kills the command's process group: TERM, up to 5 s to go, then KILL; sudo when the group runs as root.
const KILL_GROUP = String.raw`
g=$1
kill -TERM -- "-$g" 2>/dev/null || sudo -n kill -TERM -- "-$g" 2>/dev/null || exit 0
i=0; while kill -0 -- "-$g" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL -- "-$g" 2>/dev/null || sudo -n kill -KILL -- "-$g" 2>/dev/null
exit 0
`;

// A command with stdin reads it from a file that received it whole and matched the worker's size and
// sha256: a link cut mid-upload is only an early end-of-file, and the command must not start on part of it.
const STDIN_CHECK = (tag: string): string =>
  `t=$(mktemp) || exit 95; cat > "$t"; n=$(wc -c < "$t"); n=$((n+0)); s=$(sha256sum < "$t"); s=\${s%% *}; ` +
  `if [ "$n.$s" != ${quoteArg(tag)} ]; then rm -f "$t"; echo "${STDIN_MISMATCH} received $n bytes sha256 $s, expected ${tag}; nothing was run" >&2; exit 95; fi; ` +
  `exec 0< "$t"; rm -f "$t"; `;

function quickLine(c: RemoteCommand, argv: string[]): string {
  const cd = c.cwd ? `cd -- ${quoteArg(c.cwd)} || exit 96; ` : '';
  const input = c.stdin !== undefined ? STDIN_CHECK(stdinTag(c.stdin)) : '';
  // remoteLine checks the argv's length and bytes; the prefix is constant and tiny.
  return `echo "${PID_PREFIX}$$" >&2; ${input}${cd}exec ${remoteLine(argv)}`;
}

export function makeRunQuickCommand(ssh: SshPool, audit: AuditStore) {
  return async function runQuickCommand(req: RunCommandRequest): Promise<CommandResult> {
    const ctx = Context.current();
    const workflowId = ctx.info.workflowExecution?.workflowId ?? 'no-workflow';
    if (req.command.kind !== 'remote') {
      throw ApplicationFailure.create({ message: 'a quick step runs remote commands only', type: 'InvalidCommand', nonRetryable: true });
    }
    const c: RemoteCommand = req.command;
    let argv: string[];
    let line: string;
    try {
      argv = effectiveArgv(c);
      line = quickLine(c, argv);
    } catch (err) {
      throw ApplicationFailure.create({ message: (err as Error).message, type: 'InvalidCommand', nonRetryable: true });
    }
    ssh.host(c.host); // unknown host: non-retryable, before anything is attempted
    const sink = audit.open(workflowId, req.runKey, req.step);
    const started = Date.now();
    const signal = ctx.cancellationSignal;
    let group: string | undefined;
    let head = '';
    const stderr = (b: Buffer): void => {
      if (group !== undefined) return sink.stderr.write(b);
      head += b.toString('latin1');
      const nl = head.indexOf('\n');
      if (nl < 0) return;
      group = head.slice(0, nl).startsWith(PID_PREFIX) ? head.slice(PID_PREFIX.length, nl) : '';
      const rest = Buffer.from(head.slice(nl + 1), 'latin1');
      if (rest.length) sink.stderr.write(rest);
      if (signal.aborted) killOnCancel(); // cancelled before the host said which group to kill
    };
    function killOnCancel(): void {
      if (!group || !/^\d+$/.test(group)) return;
      void ssh.exec(c.host, quoteArgv(['sh', '-c', KILL_GROUP, 'rb-kill', group]), {}).catch(() => undefined);
    }
    signal.addEventListener('abort', killOnCancel, { once: true });
    let outcome;
    try {
      // No abort signal here: closing the channel would leave the command running on the host. The kill
      // ends it, and the exec then ends with it.
      outcome = await ssh.exec(c.host, line, { stdout: (b) => sink.stdout.write(b), stderr, stdin: c.stdin });
    } finally {
      signal.removeEventListener('abort', killOnCancel);
    }
    if (signal.aborted) throw new CancelledFailure(String(signal.reason ?? 'cancelled'));
    if (outcome.code === 95 && sink.stderr.tailText().includes(STDIN_MISMATCH)) throw stdinMismatch(c.host, sink.stderr.tailText());
    // No exit status: the link was cut or the command was killed by a signal. Idempotent, so a new attempt runs it again.
    if (outcome.code === null)
      throw new Error(`${c.host}: no exit status (${outcome.signal ? `signal ${outcome.signal}` : 'link cut'}); an idempotent command, so it runs again`);
    return settleCommand(ctx, audit, workflowId, req, sink, {
      host: c.host,
      argv,
      exitCode: outcome.code,
      started,
      reattached: false,
      nonRetryable: true,
      quick: true,
    });
  };
}

/**
 * runQuickCommands: consecutive quick steps sent in one local activity (the engine's quick batch), one
 * command each, run in order on the pooled connection. It stops at the first that does not succeed and
 * returns the results before it: that step then runs on its own, with its own retries and parking.
 */
export function makeRunQuickCommands(ssh: SshPool, audit: AuditStore) {
  const one = makeRunQuickCommand(ssh, audit);
  return async function runQuickCommands(reqs: RunCommandRequest[]): Promise<CommandResult[]> {
    const signal = Context.current().cancellationSignal;
    const done: CommandResult[] = [];
    for (const req of reqs) {
      try {
        done.push(await one(req));
      } catch (err) {
        if (signal.aborted || err instanceof CancelledFailure) throw err;
        break;
      }
    }
    return done;
  };
}
