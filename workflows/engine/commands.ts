// What a step runs, as plain data. Workflows build these; activities execute them. Because a command is
// data (never a shell string), the same object is shown in a gate's plan, fingerprinted, audited and run.

export interface RemoteCommand {
  kind: 'remote';
  /** Inventory name of the host, never an address. */
  host: string;
  argv: string[];
  /** Run through `sudo -n` on the host. */
  sudo?: boolean;
  /** Enforced on the host with coreutils `timeout`, so it holds even if the worker dies. */
  timeoutSeconds?: number;
  env?: Record<string, string>;
  /** Small, non-secret input written to the command's stdin. */
  stdin?: string;
  cwd?: string;
}

export interface LocalCommand {
  kind: 'local';
  argv: string[];
  timeoutSeconds?: number;
  env?: Record<string, string>;
  stdin?: string;
  cwd?: string;
}

export type Command = RemoteCommand | LocalCommand;

/** What every command execution returns: small by construction, the full output stays in the audit store. */
export interface CommandResult {
  host: string;
  argv: string[];
  exitCode: number;
  durationMs: number;
  startedAt: string;
  stdoutTail: string;
  stderrTail: string;
  stdoutBytes: number;
  stderrBytes: number;
  stdoutSha256: string;
  /** Where the full output is, relative to the audit store. */
  auditRef: string;
  /** True when this attempt found the command already started (worker crash, SSH drop) and attached to it. */
  reattached: boolean;
}

export function remote(host: string, argv: string[], opts: Omit<RemoteCommand, 'kind' | 'host' | 'argv'> = {}): RemoteCommand {
  return { kind: 'remote', host, argv, ...opts };
}

export function local(argv: string[], opts: Omit<LocalCommand, 'kind' | 'argv'> = {}): LocalCommand {
  return { kind: 'local', argv, ...opts };
}

/** The standard output of a step's commands, in order (each a tail: steps print small answers). */
export function stdoutOf(results: CommandResult[]): string {
  return results.map((r) => r.stdoutTail).join('');
}

/** The last non-empty line of some output, at most 200 characters: for status lines and error messages. */
export function lastLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 200);
}

/**
 * The line of a failed command's output that says why: the last one that reads like an error. Tools often
 * end with context rather than the cause (pg_dump: "error: ... permission denied", then "detail: Query was").
 */
export function failureLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  const why = [...lines].reverse().find((l) => /\b(error|fatal|denied|cannot|can't|failed|no such|not found)\b/i.test(l));
  return (why ?? lines[lines.length - 1] ?? '').slice(0, 200);
}
