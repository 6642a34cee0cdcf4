// The ONE place where argv becomes shell text. Every remote command goes through quoteArgv; no other code
// concatenates values into a shell string. Single quotes make every byte literal except the quote itself,
// which is closed, escaped and reopened: 'it'\''s'.

export class InvalidCommandError extends Error {}

export function quoteArg(arg: string): string {
  if (typeof arg !== 'string') throw new InvalidCommandError(`argument is not a string: ${typeof arg}`);
  // A NUL cannot be passed through exec at all; refusing is better than silently truncating.
  if (arg.includes('\0')) throw new InvalidCommandError('argument contains a NUL byte');
  if (arg !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function quoteArgv(argv: readonly string[]): string {
  if (!Array.isArray(argv) || argv.length === 0) throw new InvalidCommandError('argv must be a non-empty array');
  return argv.map(quoteArg).join(' ');
}

/**
 * A whole remote command line. sshd hands it to the login shell as ONE argument (`sh -c LINE`), and Linux
 * caps a single argument at 128 KiB (MAX_ARG_STRLEN): a longer line would fail on the host with a
 * confusing E2BIG that a retry cannot fix, so it is refused here, before anything runs. Large data goes
 * through stdin, never argv.
 */
export const MAX_REMOTE_LINE_BYTES = 128 * 1024 - 1;

export function remoteLine(argv: readonly string[]): string {
  const line = quoteArgv(argv);
  const bytes = Buffer.byteLength(line);
  if (bytes > MAX_REMOTE_LINE_BYTES) {
    throw new InvalidCommandError(
      `command line is ${bytes} bytes, over the ${MAX_REMOTE_LINE_BYTES}-byte limit of one shell argument; pass large data on stdin`,
    );
  }
  return line;
}
