// The worker's audit store: full stdout/stderr of every command under <dataDir>/audit/<workflowId>/, plus
// one JSON line per command in commands.jsonl. Workflow history only carries the small result and a ref.
import { createHash } from 'node:crypto';
import { appendFileSync, createWriteStream, existsSync, mkdirSync, statSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { failureLine, lastLine, type CommandResult } from '../../workflows/engine/commands.js';

const TAIL_BYTES = 4096;

export function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120);
}

/** Collects one stream: written whole to a file, kept as a short tail, hashed, counted. */
export class CapturedStream {
  private readonly file: WriteStream;
  private readonly hash = createHash('sha256');
  private tail = Buffer.alloc(0);
  bytes = 0;

  constructor(path: string) {
    // Private to the worker's user, and appended: a reused workflow id (or a second attempt of a step)
    // adds after what an earlier run wrote, never truncates it.
    const earlier = existsSync(path) && statSync(path).size > 0;
    this.file = createWriteStream(path, { flags: 'a', mode: 0o600 });
    if (earlier) this.file.write(`\n--- ${new Date().toISOString()}: another execution under this name ---\n`);
  }

  /** Starts over: a re-attached command streams its output again from the first byte. */
  reset(): void {
    this.file.write(`\n--- re-attached; output again from the start ---\n`);
  }

  write(b: Buffer): void {
    this.file.write(b);
    this.hash.update(b);
    this.bytes += b.length;
    this.tail = Buffer.concat([this.tail, b]).subarray(-TAIL_BYTES);
  }

  lastLine(): string {
    return lastLine(this.tail.toString('utf8'));
  }

  failureLine(): string {
    return failureLine(this.tail.toString('utf8'));
  }

  tailText(): string {
    return this.tail.toString('utf8');
  }

  async close(): Promise<string> {
    await new Promise<void>((r) => this.file.end(r));
    return this.hash.digest('hex');
  }
}

export class AuditStore {
  constructor(private readonly root: string) {}

  open(workflowId: string, runKey: string, step: string): { dir: string; ref: string; stdout: CapturedStream; stderr: CapturedStream } {
    const wf = safeName(workflowId);
    const dir = join(this.root, wf);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const base = `${safeName(runKey)}-${safeName(step)}`;
    return {
      dir,
      ref: `${wf}/${base}`,
      stdout: new CapturedStream(join(dir, `${base}.stdout`)),
      stderr: new CapturedStream(join(dir, `${base}.stderr`)),
    };
  }

  /** A whole file kept with the run's audit (e.g. a domain definition saved before it is edited). */
  saveFile(workflowId: string, name: string, content: string): void {
    const dir = join(this.root, safeName(workflowId));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, safeName(name)), content, { mode: 0o600 });
  }

  record(workflowId: string, result: CommandResult & { step: string; runKey: string }): void {
    const dir = join(this.root, safeName(workflowId));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    appendFileSync(join(dir, 'commands.jsonl'), JSON.stringify({ ...result, recordedAt: new Date().toISOString() }) + '\n', { mode: 0o600 });
  }
}
