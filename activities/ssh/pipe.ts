// pipeCommands: `from` on one host, its stdout streamed into the stdin of `to` on another host, through the
// worker with backpressure: memory stays flat whatever the size (a database dump from the master into the
// backup store). The bytes are counted and hashed on the way, so the receiving side can be verified.
// A pipe cannot re-attach after a crash (the stream went through the dead worker): the receiving command
// must write to a temporary name that a later step verifies and renames; a retry starts the pipe afresh.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ClientChannel } from 'ssh2';
import { failureLine, lastLine, type RemoteCommand } from '../../workflows/engine/commands.js';
import { effectiveArgv } from './command.js';
import { remoteLine } from './shell-quote.js';
import type { SshPool } from './ssh.js';
import type { WorkerConfig } from '../../workers/config.js';
import { ageFilter } from '../store/encryption.js';
import { TransferProgress } from '../progress.js';

export interface PipeRequest {
  from: RemoteCommand;
  to: RemoteCommand;
  step: string;
  /** Bandwidth cap for the whole stream (bytes per second): a backup must not saturate a shared link. */
  limitBytesPerSecond?: number;
  /**
   * Run the stream through age on the worker: encrypt to these public keys (encryption at rest: the store
   * only ever receives ciphertext), or decrypt with the worker's identity file (restore tests).
   */
  transform?: { encryptTo?: string[]; decrypt?: boolean };
  /** What `from` will produce, as far as known beforehand (a database's size): the heartbeat then has an estimate. */
  expectBytes?: number;
}

export interface PipeResult {
  /** What reached `to` (after encryption or decryption, if any). */
  bytes: number;
  sha256: string;
  /** What `from` produced; differs from bytes/sha256 only with a transform. */
  sourceBytes: number;
  sourceSha256: string;
  durationMs: number;
  fromExit: number;
  toExit: number;
  fromStderrTail: string;
  toStdoutTail: string;
  toStderrTail: string;
}

const TAIL = 2048;

interface OpenChannel {
  ch: ClientChannel;
  /** The exit code; listening starts inside the exec callback, before any await, so a command that ends at
   * once (a small file's `cat`) cannot finish before anyone listens. */
  exit: Promise<number>;
}

function openChannel(ssh: SshPool, host: string, line: string, note: (why: string) => void): Promise<OpenChannel> {
  return ssh.channel(host, line, (ch) => ({ ch, exit: exitOf(ch, note) }));
}

/** The remote exit code; 255 (ssh's own) with the signal noted when the command died of one or gave none. */
function exitOf(ch: ClientChannel, note: (why: string) => void): Promise<number> {
  return new Promise((resolve) => {
    let code = 255;
    ch.on('exit', (c: number | null, signal?: string) => {
      code = c ?? 255;
      if (c === null) note(`killed by ${signal ?? 'a signal'}`);
    });
    ch.on('close', () => resolve(code));
  });
}

export function makePipeCommands(ssh: SshPool, config: WorkerConfig) {
  return async function pipeCommands(req: PipeRequest): Promise<PipeResult> {
    const ctx = Context.current();
    ssh.host(req.from.host);
    ssh.host(req.to.host);
    const started = Date.now();
    const hash = createHash('sha256');
    const sourceHash = createHash('sha256');
    let bytes = 0;
    let sourceBytes = 0;
    const filterArgv = req.transform ? ageFilter(req.transform, config) : [];
    const tails = { fromErr: '', toOut: '', toErr: '' };
    const keep = (k: keyof typeof tails, b: Buffer): void => {
      tails[k] = (tails[k] + b.toString('utf8')).slice(-TAIL);
    };
    let lines: [string, string];
    try {
      lines = [remoteLine(effectiveArgv(req.from)), remoteLine(effectiveArgv(req.to))];
    } catch (err) {
      // A NUL, a bad env name or an over-long line: the same request fails the same way every time.
      throw ApplicationFailure.create({ message: (err as Error).message, type: 'InvalidCommand', nonRetryable: true });
    }
    const from = await openChannel(ssh, req.from.host, lines[0], (why) => keep('fromErr', Buffer.from(`\n${why}`)));
    const to = await openChannel(ssh, req.to.host, lines[1], (why) => keep('toErr', Buffer.from(`\n${why}`)));
    const [src, dst, fromExit, toExit] = [from.ch, to.ch, from.exit, to.exit];
    src.stderr.on('data', (b: Buffer) => keep('fromErr', b));
    dst.on('data', (b: Buffer) => keep('toOut', b));
    dst.stderr.on('data', (b: Buffer) => keep('toErr', b));
    const limit = req.limitBytesPerSecond;
    const sourceMeter = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        sourceBytes += chunk.length;
        sourceHash.update(chunk);
        done(null, chunk);
      },
    });
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        bytes += chunk.length;
        hash.update(chunk);
        // Ahead of the allowed rate: hold this chunk back; backpressure then slows the source itself.
        const ahead = limit ? (bytes / limit) * 1000 - (Date.now() - started) : 0;
        if (ahead > 1) setTimeout(() => done(null, chunk), ahead);
        else done(null, chunk);
      },
    });
    const progress = new TransferProgress(req.expectBytes);
    const hb = setInterval(() => {
      // What the source has produced: counted by its own meter only when a filter sits between the two.
      progress.update(filterArgv.length ? sourceBytes : bytes);
      ctx.heartbeat({ bytes, ...progress.details(lastLine(tails.toErr) || lastLine(tails.fromErr)) });
    }, 3000);
    // Closing both channels ends both sides: the writer gets SIGPIPE, the reader EOF (and its output is a
    // temporary file that no later step will accept unverified).
    const cancel = (): void => {
      src.close();
      dst.close();
    };
    ctx.cancellationSignal.addEventListener('abort', cancel, { once: true });
    src.end(); // `from` reads nothing
    try {
      let filterFailed = '';
      if (filterArgv.length) {
        // The filter is a local process: it lives and dies with this attempt (a retry starts afresh).
        const filter = spawn(filterArgv[0]!, filterArgv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
        let filterErr = '';
        filter.stderr.on('data', (b: Buffer) => (filterErr = (filterErr + b.toString('utf8')).slice(-TAIL)));
        const filterExit = new Promise<number>((resolve) => filter.on('close', (c) => resolve(c ?? 255)));
        const spawnError = new Promise<never>((_, reject) => filter.on('error', reject));
        await Promise.race([Promise.all([pipeline(src, sourceMeter, filter.stdin), pipeline(filter.stdout, meter, dst)]), spawnError]);
        const code = await filterExit;
        if (code !== 0) filterFailed = `${filterArgv[0]} ${filterArgv[1]} exit ${code}: ${failureLine(filterErr)}`;
      } else {
        // No transform: what leaves the source is what arrives, hashed once (hashing is a visible share of
        // the CPU a backup costs on a small machine).
        await pipeline(src, meter, dst);
      }
      const [f, t] = await Promise.all([fromExit, toExit]);
      const sha256 = hash.digest('hex');
      const result: PipeResult = {
        bytes,
        sha256,
        sourceBytes: filterArgv.length ? sourceBytes : bytes,
        sourceSha256: filterArgv.length ? sourceHash.digest('hex') : sha256,
        durationMs: Date.now() - started,
        fromExit: f,
        toExit: t,
        fromStderrTail: tails.fromErr,
        toStdoutTail: tails.toOut,
        toStderrTail: tails.toErr,
      };
      if (filterFailed) {
        throw ApplicationFailure.create({ message: `pipe ${req.from.host} → ${req.to.host} failed: ${filterFailed}`, type: 'PipeFailed', details: [result] });
      }
      if (f !== 0 || t !== 0) {
        throw ApplicationFailure.create({
          message: `pipe ${req.from.host} → ${req.to.host} failed: from exit ${f}${result.fromStderrTail ? ` (${failureLine(result.fromStderrTail)})` : ''}, to exit ${t}${result.toStderrTail ? ` (${failureLine(result.toStderrTail)})` : ''}`,
          // Retryable: a pipe always starts afresh into a temporary name (see the top of this file).
          type: 'PipeFailed',
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
