// pipeCommands: `from` on one host, its stdout streamed into the stdin of `to` on another host, through the
// worker with backpressure: memory stays flat whatever the size (a database dump from the master into the
// backup store). The bytes are counted and hashed on the way, so the receiving side can be verified.
// A pipe cannot re-attach after a crash (the stream went through the dead worker): the receiving command
// must write to a temporary name that a later step verifies and renames; a retry starts the pipe afresh.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ClientChannel } from 'ssh2';
import { lastLine, type RemoteCommand } from '../workflows/commands.js';
import { effectiveArgv } from './command.js';
import { quoteArgv } from './shell-quote.js';
import type { SshPool } from './ssh.js';

export interface PipeRequest {
  from: RemoteCommand;
  to: RemoteCommand;
  step: string;
}

export interface PipeResult {
  bytes: number;
  sha256: string;
  durationMs: number;
  fromExit: number;
  toExit: number;
  fromStderrTail: string;
  toStdoutTail: string;
  toStderrTail: string;
}

const TAIL = 2048;

function openChannel(ssh: SshPool, host: string, argv: string[]): Promise<ClientChannel> {
  return ssh.connect(host).then(
    (c) =>
      new Promise((resolve, reject) =>
        c.exec(quoteArgv(argv), (err, ch) => (err ? reject(err) : resolve(ch))),
      ),
  );
}

function exitOf(ch: ClientChannel): Promise<number> {
  return new Promise((resolve) => {
    let code = 255;
    ch.on('exit', (c: number | null) => (code = c ?? 255));
    ch.on('close', () => resolve(code));
  });
}

export function makePipeCommands(ssh: SshPool) {
  return async function pipeCommands(req: PipeRequest): Promise<PipeResult> {
    const ctx = Context.current();
    ssh.host(req.from.host);
    ssh.host(req.to.host);
    const started = Date.now();
    const hash = createHash('sha256');
    let bytes = 0;
    const tails = { fromErr: '', toOut: '', toErr: '' };
    const keep = (k: keyof typeof tails, b: Buffer): void => {
      tails[k] = (tails[k] + b.toString('utf8')).slice(-TAIL);
    };
    const src = await openChannel(ssh, req.from.host, effectiveArgv(req.from));
    const dst = await openChannel(ssh, req.to.host, effectiveArgv(req.to));
    const fromExit = exitOf(src);
    const toExit = exitOf(dst);
    src.stderr.on('data', (b: Buffer) => keep('fromErr', b));
    dst.on('data', (b: Buffer) => keep('toOut', b));
    dst.stderr.on('data', (b: Buffer) => keep('toErr', b));
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        bytes += chunk.length;
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const hb = setInterval(() => ctx.heartbeat({ bytes }), 3000);
    // Closing both channels ends both sides: the writer gets SIGPIPE, the reader EOF (and its output is a
    // temporary file that no later step will accept unverified).
    const cancel = (): void => {
      src.close();
      dst.close();
    };
    ctx.cancellationSignal.addEventListener('abort', cancel, { once: true });
    src.end(); // `from` reads nothing
    try {
      await pipeline(src, meter, dst);
      const [f, t] = await Promise.all([fromExit, toExit]);
      const result: PipeResult = {
        bytes,
        sha256: hash.digest('hex'),
        durationMs: Date.now() - started,
        fromExit: f,
        toExit: t,
        fromStderrTail: tails.fromErr,
        toStdoutTail: tails.toOut,
        toStderrTail: tails.toErr,
      };
      if (f !== 0 || t !== 0) {
        throw ApplicationFailure.create({
          message: `pipe ${req.from.host} → ${req.to.host} failed: from exit ${f}${result.fromStderrTail ? ` (${lastLine(result.fromStderrTail)})` : ''}, to exit ${t}${result.toStderrTail ? ` (${lastLine(result.toStderrTail)})` : ''}`,
          type: 'CommandFailed',
          details: [result],
        });
      }
      return result;
    } finally {
      clearInterval(hb);
      ctx.cancellationSignal.removeEventListener('abort', cancel);
    }
  };
}
