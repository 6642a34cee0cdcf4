// The host-side step protocol on a real lab host: an attempt with the same run key re-attaches to the
// first execution (after a dropped SSH link or a worker crash) and a one-shot command starts ONCE; an
// idempotent command that failed is started again; output, exit codes and audit are complete.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { AuditStore } from '../activities/runbook/audit-store.js';
import { makeRunCommand, type RunCommandRequest } from '../activities/ssh/command.js';
import { makePipeCommands, type PipeResult } from '../activities/ssh/pipe.js';
import type { ProgressDetails } from '../activities/progress.js';
import { makeRunQuickCommand } from '../activities/ssh/quick-command.js';
import { hostRunKey, STEP_SCRIPT } from '../activities/ssh/remote-step.js';
import { quoteArgv } from '../activities/ssh/shell-quote.js';
import { SshPool } from '../activities/ssh/ssh.js';
import { loadWorkerConfig } from '../workers/config.js';
import { loadInventory, type Inventory } from '../workers/inventory.js';
import { local, remote, type CommandResult } from '../workflows/engine/commands.js';
import { dropSshSessions, onHost, scratchDir, uniqueId, waitFor } from './harness.js';

const HOST = 'hypervisor';
let inventory: Inventory;
let ssh: SshPool;
let auditRoot: string;
let runCommand: (r: RunCommandRequest) => Promise<CommandResult>;

before(() => {
  inventory = loadInventory(process.env.RUNBOOK_INVENTORY);
  ssh = new SshPool(inventory);
  auditRoot = scratchDir('audit');
  runCommand = makeRunCommand(ssh, new AuditStore(auditRoot));
});
after(() => ssh.closeAll());

/** One activity attempt of runCommand, as the worker would run it for workflow `workflowId`. */
function inWorkflow(workflowId: string, attempt = 1): { run: (fn: unknown, req: RunCommandRequest) => Promise<CommandResult> } {
  const env = new MockActivityEnvironment({ workflowExecution: { workflowId, runId: 'run-1' }, attempt, heartbeatTimeoutMs: 20_000 });
  return { run: (_fn, req) => env.run(runCommand, req) };
}

/** Lines of the host's own audit log that name this workflow's key. */
function starts(workflowId: string): string[] {
  return onHost(inventory, HOST, 'cat ~/.runbooks/audit.log 2>/dev/null || true')
    .split('\n')
    .filter((l) => l.includes(`${workflowId}.run-1/`));
}

describe('remote steps', () => {
  test('stdout, stderr, exit code, tails, sha256 and the audit store are complete', async () => {
    const wf = uniqueId('rs-out');
    const r = await inWorkflow(wf).run(runCommand, {
      command: remote(HOST, ['sh', '-c', 'printf "line1\\nline2\\n"; echo oops >&2']),
      runKey: '1.0.r0',
      once: false,
      step: 'print',
    });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdoutTail, 'line1\nline2\n');
    assert.equal(r.stderrTail, 'oops\n');
    assert.equal(r.stdoutBytes, 12);
    assert.equal(readFileSync(join(auditRoot, `${r.auditRef}.stdout`), 'utf8'), 'line1\nline2\n');
    const jsonl = readFileSync(join(auditRoot, wf, 'commands.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual([jsonl[0].host, jsonl[0].argv, jsonl[0].exitCode], [HOST, ['sh', '-c', 'printf "line1\\nline2\\n"; echo oops >&2'], 0]);
    assert.ok(existsSync(join(auditRoot, `${r.auditRef}.stderr`)));
  });

  test('a non-zero exit is CommandFailed, non-retryable for a one-shot step, with the result attached', async () => {
    await assert.rejects(
      inWorkflow(uniqueId('rs-fail')).run(runCommand, {
        command: remote(HOST, ['sh', '-c', 'echo broken >&2; exit 7']),
        runKey: '1.0.r0',
        once: true,
        step: 'fail',
      }),
      (err: { type?: string; nonRetryable?: boolean; message: string }) =>
        err.type === 'CommandFailed' && err.nonRetryable === true && /exit 7: broken/.test(err.message),
    );
  });

  test('a one-shot command whose SSH link drops mid-run is re-attached on the next attempt, never started twice', async () => {
    const wf = uniqueId('rs-drop');
    const cmd = remote(HOST, ['sh', '-c', 'echo started; while [ ! -e "$HOME/release-$1" ]; do sleep 0.1; done; echo finished', 'x', wf]);
    const req = { command: cmd, runKey: '3.0.r0', once: true, step: 'long one-shot' };
    const first = inWorkflow(wf).run(runCommand, req);
    await waitFor('the command to start on the host', async () => starts(wf).length === 1);
    assert.ok(dropSshSessions(HOST) >= 1, 'the link to the host was cut');
    await assert.rejects(first, 'the attempt whose link dropped fails (Temporal would retry it)');
    onHost(inventory, HOST, `touch "$HOME/release-${wf}"`);
    const second = await inWorkflow(wf, 2).run(runCommand, req);
    assert.equal(second.exitCode, 0);
    assert.equal(second.reattached, true);
    assert.match(second.stdoutTail, /started\nfinished/);
    assert.equal(starts(wf).length, 1, 'the host audit shows exactly one start');
  });

  test('a finished one-shot command is not run again by a repeated attempt; its recorded outcome is returned', async () => {
    const wf = uniqueId('rs-again');
    const req = {
      command: remote(HOST, ['sh', '-c', 'echo ran >> "$HOME/count-$1"; wc -l < "$HOME/count-$1"', 'x', wf]),
      runKey: '4.0.r0',
      once: true,
      step: 'count',
    };
    const a = await inWorkflow(wf).run(runCommand, req);
    const b = await inWorkflow(wf, 2).run(runCommand, req);
    assert.equal(a.stdoutTail.trim(), '1');
    assert.equal(b.stdoutTail.trim(), '1', 'the second attempt saw the first execution');
    assert.equal(b.reattached, true);
    assert.equal(onHost(inventory, HOST, `wc -l < "$HOME/count-${wf}"`).trim(), '1');
    // An operator's "retry" is a new decision round, hence a new key: it does run again.
    const c = await inWorkflow(wf).run(runCommand, { ...req, runKey: '4.0.r1' });
    assert.equal(c.stdoutTail.trim(), '2');
  });

  test("a one-shot command's end comes back in the exec's own exit status: one exec, not a second for its status", async () => {
    // Counts the execs of a pool of its own, so nothing else's sessions are counted.
    const pool = new SshPool(inventory);
    let execs = 0;
    const exec = pool.exec.bind(pool);
    pool.exec = (...a: Parameters<SshPool['exec']>) => (execs++, exec(...a));
    const run = makeRunCommand(pool, new AuditStore(auditRoot));
    const wf = uniqueId('rs-ended');
    const env = (attempt: number) =>
      new MockActivityEnvironment({ workflowExecution: { workflowId: wf, runId: 'run-1' }, attempt, heartbeatTimeoutMs: 20_000 });
    try {
      // Below 64 the status carries the code; from 64 on (a timeout's 124, a missing program's 127) the worker asks.
      for (const [code, expectedExecs] of [
        [0, 1],
        [7, 1],
        [63, 1],
        [64, 2],
        [124, 2],
      ] as const) {
        const req = {
          command: remote(HOST, ['sh', '-c', 'echo ran >> "$HOME/ended-$1"; exit $2', 'x', `${wf}-${code}`, String(code)]),
          runKey: `${code}.0.r0`,
          once: true,
          step: `exit ${code}`,
        };
        execs = 0;
        const first: CommandResult = await env(1)
          .run(run, req)
          .then(
            (r) => r as CommandResult,
            (err: { details?: CommandResult[] }) => err.details![0]!,
          );
        assert.deepEqual(
          [first.exitCode, first.reattached, execs],
          [code, false, expectedExecs],
          `exit ${code}: its code, not re-attached, in ${expectedExecs} exec(s)`,
        );
        execs = 0;
        const again: CommandResult = await env(2)
          .run(run, req)
          .then(
            (r) => r as CommandResult,
            (err: { details?: CommandResult[] }) => err.details![0]!,
          );
        assert.deepEqual([again.exitCode, again.reattached, execs], [code, true, expectedExecs], `exit ${code}, a second attempt: re-attached, same code`);
        assert.equal(onHost(inventory, HOST, `wc -l < "$HOME/ended-${wf}-${code}"`).trim(), '1', `exit ${code}: ran once`);
      }
    } finally {
      pool.closeAll();
    }
  });

  test('an idempotent command that failed is started again on the next attempt', async () => {
    const wf = uniqueId('rs-idem');
    const req = {
      command: remote(HOST, ['sh', '-c', 'echo x >> "$HOME/idem-$1"; [ "$(wc -l < "$HOME/idem-$1")" -ge 2 ]', 'x', wf]),
      runKey: '5.0.r0',
      once: false,
      step: 'idempotent',
    };
    await assert.rejects(inWorkflow(wf).run(runCommand, req), (e: { type?: string; nonRetryable?: boolean }) => e.type === 'CommandFailed' && !e.nonRetryable);
    const r = await inWorkflow(wf, 2).run(runCommand, req);
    assert.equal(r.exitCode, 0);
    assert.equal(starts(wf).length, 2);
  });

  test('sudo, env, cwd, stdin and the host-enforced timeout', async () => {
    const wf = uniqueId('rs-opts');
    const r = await inWorkflow(wf).run(runCommand, {
      command: remote(HOST, ['sh', '-c', 'id -u; echo "$GREETING"; pwd; cat'], {
        sudo: true,
        env: { GREETING: 'hello there' },
        cwd: '/tmp',
        stdin: 'from stdin\n',
      }),
      runKey: '6.0.r0',
      once: true,
      step: 'opts',
    });
    assert.equal(r.stdoutTail, '0\nhello there\n/tmp\nfrom stdin\n');
    assert.deepEqual(r.argv.slice(0, 4), ['sudo', '-n', '--', 'env']);
    await assert.rejects(
      inWorkflow(wf).run(runCommand, { command: remote(HOST, ['sleep', '30'], { timeoutSeconds: 1 }), runKey: '6.1.r0', once: true, step: 'slow' }),
      (e: Error) => /timed out after 1s/.test(e.message),
    );
  });
});

/** An SSH pool whose channels end after `bytes` bytes of stdin: what the host sees when a link is cut mid-upload. */
class CutStdinPool extends SshPool {
  constructor(
    inventory: Inventory,
    private readonly bytes: number,
  ) {
    super(inventory);
  }
  override exec(name: string, command: string, io: Parameters<SshPool['exec']>[2]): ReturnType<SshPool['exec']> {
    return super.exec(name, command, io.stdin === undefined ? io : { ...io, stdin: Buffer.from(io.stdin).subarray(0, this.bytes).toString('latin1') });
  }
}

describe('cancel after a reboot', () => {
  test('the kill of a cancelled step never signals a pid recorded on an earlier boot (it names another process now)', async () => {
    const wf = uniqueId('rs-boot');
    const key = hostRunKey(wf, 'run-1', '1.0.r0');
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: wf, runId: 'run-1' }, attempt: 1, heartbeatTimeoutMs: 20_000 });
    const running = env.run(runCommand, { command: remote(HOST, ['sleep', '300']), runKey: '1.0.r0', once: true, step: 'long' });
    running.catch(() => undefined);
    const d = `~/.runbooks/runs/${key}`;
    await waitFor('the step to record its pid', async () => onHost(inventory, HOST, `cat ${d}/pid 2>/dev/null || true`).trim());
    const pid = onHost(inventory, HOST, `cat ${d}/pid`).trim();
    // As after a reboot: the record says another boot; the pid stands for whatever process has that number now.
    onHost(inventory, HOST, `echo 00000000-0000-0000-0000-000000000000 > ${d}/boot`);
    try {
      const out = onHost(inventory, HOST, `${quoteArgv(['sh', '-c', STEP_SCRIPT, 'rb-step', key, 'kill', '0', ''])} 2>&1`);
      assert.match(out, /nothing to kill/);
      assert.equal(onHost(inventory, HOST, `kill -0 ${pid} 2>/dev/null && echo alive || echo gone`).trim(), 'alive', 'the process was not signalled');
    } finally {
      onHost(inventory, HOST, `kill -KILL -- -${pid} 2>/dev/null || true`);
      env.cancel();
      await running.catch(() => undefined);
    }
  });
});

describe('stdin arrives whole or nothing runs', () => {
  // A host program sent as stdin (the shape of upgrade-recovery.sh installed as root): the command copies it.
  const program = `#!/bin/sh\n${'echo "step of a long host program"\n'.repeat(200)}echo done\n`;
  const copyTo = (target: string) => remote(HOST, ['sh', '-c', 'cat > "$1"; echo copied', 'install', target], { stdin: program });
  const sizeOnHost = (target: string): string => onHost(inventory, HOST, `if [ -e ${target} ]; then wc -c < ${target}; else echo absent; fi`).trim();

  test('a one-shot step whose stdin is cut after 1000 bytes runs nothing and fails StdinMismatch; the whole input then runs once', async () => {
    const wf = uniqueId('rs-stdin');
    const target = `/tmp/${wf}.sh`;
    const cut = new CutStdinPool(inventory, 1000);
    const req: RunCommandRequest = { command: copyTo(target), runKey: '1.0.r0', once: true, step: 'install the program' };
    try {
      const env = new MockActivityEnvironment({ workflowExecution: { workflowId: wf, runId: 'run-1' }, attempt: 1, heartbeatTimeoutMs: 20_000 });
      await assert.rejects(env.run(makeRunCommand(cut, new AuditStore(auditRoot)), req), (err: { type?: string; nonRetryable?: boolean; message: string }) => {
        console.log(`stdin cut after 1000 of ${Buffer.byteLength(program)} bytes: ${err.message}`);
        return err.type === 'StdinMismatch' && err.nonRetryable === true && /received 1000 bytes/.test(err.message);
      });
      assert.equal(sizeOnHost(target), 'absent', 'the command never ran on the partial input');
      assert.equal(starts(wf).length, 0, 'the host recorded no start');
      // Nothing claimed the run key: the next attempt, with the whole input, runs it (once).
      const r = await inWorkflow(wf, 2).run(runCommand, req);
      assert.equal(r.exitCode, 0);
      assert.equal(sizeOnHost(target), String(Buffer.byteLength(program)));
      assert.equal(starts(wf).length, 1);
    } finally {
      cut.closeAll();
    }
  });

  test('a quick step whose stdin is cut after 1000 bytes runs nothing and fails StdinMismatch', async () => {
    const wf = uniqueId('qs-stdin');
    const target = `/tmp/${wf}.sh`;
    const cut = new CutStdinPool(inventory, 1000);
    try {
      const env = new MockActivityEnvironment({ workflowExecution: { workflowId: wf, runId: 'run-1' }, attempt: 1 });
      const req: RunCommandRequest = { command: copyTo(target), runKey: '1.0.r0', once: false, step: 'install the program' };
      await assert.rejects(
        env.run(makeRunQuickCommand(cut, new AuditStore(auditRoot)), req),
        (err: { type?: string; message: string }) => err.type === 'StdinMismatch' && /received 1000 bytes/.test(err.message),
      );
      assert.equal(sizeOnHost(target), 'absent', 'the command never ran on the partial input');
      const whole = (await env.run(makeRunQuickCommand(ssh, new AuditStore(auditRoot)), req)) as CommandResult;
      assert.equal(whole.stdoutTail, 'copied\n');
      assert.equal(sizeOnHost(target), String(Buffer.byteLength(program)));
    } finally {
      cut.closeAll();
    }
  });
});

describe('the SSH channel and the command line', () => {
  test('300 fast commands on one pooled connection: every exit code arrives (none lost to a late listener)', async () => {
    const codes: (number | null)[] = [];
    for (let i = 0; i < 300; i++) codes.push((await ssh.exec(HOST, `exit ${i % 7}`, {})).code);
    const wrong = codes.map((c, i) => [i, c] as const).filter(([i, c]) => c !== i % 7);
    assert.deepEqual(wrong, [], `commands whose exit code was lost or wrong: ${wrong.length}/300`);
  });

  test('sessions per host are bounded (maxSessions × maxConnections): 15 commands at once run at most 6 at a time, on more than one connection', async () => {
    const h = inventory.hosts[HOST]!;
    const tight = new SshPool({ ...inventory, hosts: { ...inventory.hosts, [HOST]: { ...h, maxSessions: 3, maxConnections: 2 } } });
    const dir = `/tmp/${uniqueId('sessions')}`;
    onHost(inventory, HOST, `mkdir -p ${dir}`);
    try {
      // Each command marks itself present, holds its session a moment, and reports how many were present.
      const line = `d=$(mktemp -d ${dir}/s.XXXXXX) && sleep 0.4 && ls ${dir} | wc -l && rmdir "$d"`;
      const seen = await Promise.all(
        Array.from({ length: 15 }, async () => {
          let out = '';
          const r = await tight.exec(HOST, line, { stdout: (b) => (out += b) });
          assert.equal(r.code, 0);
          return Number(out.trim());
        }),
      );
      const most = Math.max(...seen);
      assert.ok(most <= 6, `at most 3 sessions on each of 2 connections, saw ${most} commands at once`);
      assert.ok(most >= 4, `more than one connection's 3 sessions in use at once, saw at most ${most}`);
    } finally {
      tight.closeAll();
      onHost(inventory, HOST, `rm -rf ${dir}`);
    }
  });

  test("a command line over one shell argument's limit, or a NUL, is InvalidCommand, non-retryable, before anything runs", async () => {
    const wf = uniqueId('rs-long');
    const marker = `/tmp/${wf}`;
    const huge = 'x'.repeat(130 * 1024);
    const invalid = (e: { type?: string; nonRetryable?: boolean; message: string }): boolean => e.type === 'InvalidCommand' && e.nonRetryable === true;
    await assert.rejects(
      inWorkflow(wf).run(runCommand, { command: remote(HOST, ['sh', '-c', 'touch "$1"', 'x', marker, huge]), runKey: '7.0.r0', once: true, step: 'long' }),
      (e: { type?: string; nonRetryable?: boolean; message: string }) => invalid(e) && /over the 131071-byte limit/.test(e.message),
    );
    const pipe = makePipeCommands(ssh, loadWorkerConfig());
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: wf, runId: 'run-1' }, heartbeatTimeoutMs: 20_000 });
    await assert.rejects(
      env.run(pipe, { from: remote(HOST, ['sh', '-c', 'touch "$1"; echo x', 'x', marker, huge]), to: remote('backup-store', ['cat']), step: 'pipe' }),
      invalid,
    );
    await assert.rejects(
      env.run(pipe, { from: remote(HOST, ['echo', 'a\0b']), to: remote('backup-store', ['sh', '-c', 'touch "$1"', 'x', marker]), step: 'pipe' }),
      invalid,
    );
    assert.equal(onHost(inventory, HOST, `test -e ${marker} && echo ran || echo absent`).trim(), 'absent');
  });
});

describe('streaming between hosts', () => {
  test('stdout of one host streams into stdin of another with flat worker memory, counted and hashed', async () => {
    const pipe = makePipeCommands(ssh, loadWorkerConfig());
    const wf = uniqueId('pipe');
    const MiB = 256;
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: wf, runId: 'run-1' }, heartbeatTimeoutMs: 20_000 });
    let r: PipeResult;
    try {
      r = (await env.run(pipe, {
        // A deterministic stream, so both ends can be checked independently of the pipe's own hash.
        from: remote('lava-master', ['sh', '-c', `yes runbook-stream | head -c ${MiB * 1024 * 1024}`]),
        to: remote('backup-store', ['sh', '-c', 'cat > "$HOME/$1.partial" && sha256sum < "$HOME/$1.partial" | cut -d" " -f1', 'x', wf]),
        step: 'stream',
      })) as PipeResult;
    } finally {
      clearInterval(sampler);
    }
    assert.equal(r.bytes, MiB * 1024 * 1024);
    const atSource = onHost(inventory, 'lava-master', `yes runbook-stream | head -c ${MiB * 1024 * 1024} | sha256sum | cut -d' ' -f1`).trim();
    assert.equal(r.sha256, atSource, 'hash on the way = hash at the source');
    assert.equal(r.toStdoutTail.trim(), atSource, 'hash at the destination = hash at the source');
    assert.ok(rssPeak - rssBefore < 96 * 1024 * 1024, `worker memory grew ${(rssPeak - rssBefore) >> 20} MiB for a ${MiB} MiB stream`);
  });

  test('the heartbeat of a long stream tells bytes done of the expected total, with a rate, while it runs', async () => {
    const pipe = makePipeCommands(ssh, loadWorkerConfig());
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: uniqueId('pipe-progress'), runId: 'run-1' }, heartbeatTimeoutMs: 20_000 });
    const beats: ProgressDetails[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d as ProgressDetails));
    const total = 40 * 1024 * 1024;
    // Capped at 4 MiB/s: about 10 s, so heartbeats (every 3 s) come while bytes are still on their way.
    await env.run(pipe, {
      from: remote('lava-master', ['sh', '-c', `yes runbook-stream | head -c ${total}`]),
      to: remote('backup-store', ['sh', '-c', 'cat > /dev/null']),
      step: 'stream',
      limitBytesPerSecond: 4 * 1024 * 1024,
      expectBytes: total,
    });
    const midway = beats.filter((b) => b.bytesDone > 0 && b.bytesDone < total);
    assert.ok(midway.length > 0, `no heartbeat counted bytes on their way: ${beats.map((b) => b.progress).join(' | ')}`);
    assert.match(midway[0]!.progress, /^[\d.]+ (KiB|MiB) of 40 MiB \(\d+%\), [\d.]+ (KiB|MiB)\/s/);
    assert.ok(midway.every((b) => b.bytesTotal === total && b.bytesPerSecond > 0));
  });

  test('a failing source fails the pipe with both exit codes, non-zero first', async () => {
    const pipe = makePipeCommands(ssh, loadWorkerConfig());
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: uniqueId('pipe-fail'), runId: 'run-1' } });
    await assert.rejects(
      env.run(pipe, {
        from: remote('lava-master', ['sh', '-c', 'echo partial; echo "pg_dump: error: connection lost" >&2; exit 1']),
        to: remote('backup-store', ['cat']),
        step: 'stream',
      }),
      (e: { type?: string; message: string }) => e.type === 'PipeFailed' && /from exit 1 \(pg_dump: error: connection lost\), to exit 0/.test(e.message),
    );
  });
});

describe('encryption at rest through the pipe (age on the worker)', () => {
  test('the store receives only ciphertext; decrypting on the way back gives the source bytes', async () => {
    const dir = scratchDir('age');
    const identity = join(dir, 'identity.txt');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
    const base = loadWorkerConfig();
    const pipe = makePipeCommands(ssh, { ...base, backups: { ...base.backups, ageRecipients: [recipient], ageIdentityFile: identity } });
    const wf = uniqueId('pipe-age');
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: wf, runId: 'run-1' }, heartbeatTimeoutMs: 20_000 });
    const source = `seq 1 200000 | sed 's/^/secret row /'`;
    const sent = (await env.run(pipe, {
      from: remote('lava-master', ['sh', '-c', source]),
      to: remote('backup-store', ['sh', '-c', 'cat > "$HOME/$1.age" && sha256sum < "$HOME/$1.age" | cut -d" " -f1', 'x', wf]),
      step: 'encrypt',
      transform: { encryptTo: [recipient] },
    })) as PipeResult;
    const atSource = onHost(inventory, 'lava-master', `${source} | sha256sum | cut -d' ' -f1`).trim();
    assert.equal(sent.sourceSha256, atSource, "the plaintext hash is the source's");
    assert.equal(sent.sha256, sent.toStdoutTail.trim(), 'the hash of what was sent = the hash of what the store holds');
    assert.notEqual(sent.sha256, sent.sourceSha256);
    assert.equal(onHost(inventory, 'backup-store', `head -c 21 "$HOME/${wf}.age"`), 'age-encryption.org/v1');
    assert.equal(onHost(inventory, 'backup-store', `grep -c 'secret row' "$HOME/${wf}.age" || true`).trim(), '0', 'no plaintext on the store');

    const back = (await env.run(pipe, {
      from: remote('backup-store', ['sh', '-c', 'cat "$HOME/$1.age"', 'x', wf]),
      to: remote('lava-master', ['sh', '-c', 'sha256sum | cut -d" " -f1']),
      step: 'decrypt',
      transform: { decrypt: true },
    })) as PipeResult;
    assert.equal(back.toStdoutTail.trim(), atSource, 'decrypted = the source, byte for byte');

    // A worker without the identity file refuses clearly instead of streaming garbage.
    const keyless = makePipeCommands(ssh, { ...base, backups: { ...base.backups, ageRecipients: [recipient], ageIdentityFile: null } });
    await assert.rejects(
      env.run(keyless, {
        from: remote('backup-store', ['cat', '/dev/null']),
        to: remote('lava-master', ['cat']),
        step: 'decrypt',
        transform: { decrypt: true },
      }),
      (e: { type?: string; message: string }) => e.type === 'InvalidConfig' && /ageIdentityFile/.test(e.message),
    );
    onHost(inventory, 'backup-store', `rm -f "$HOME/${wf}.age"`);
  });
});

describe('local commands (virsh, qemu-img … on the worker)', () => {
  test('same contract as remote: output, exit code, audit, CommandFailed, timeout, stdin', async () => {
    const wf = uniqueId('local');
    const ok = await inWorkflow(wf).run(runCommand, {
      command: local(['sh', '-c', 'cat; echo "to stderr" >&2'], { stdin: 'from stdin\n', env: { X: '1' } }),
      runKey: '1.0.r0',
      once: true,
      step: 'local ok',
    });
    assert.deepEqual([ok.host, ok.exitCode, ok.stdoutTail, ok.stderrTail], ['worker', 0, 'from stdin\n', 'to stderr\n']);
    assert.deepEqual(ok.argv.slice(0, 2), ['env', 'X=1']);
    assert.equal(readFileSync(join(auditRoot, `${ok.auditRef}.stdout`), 'utf8'), 'from stdin\n');
    await assert.rejects(
      inWorkflow(wf).run(runCommand, { command: local(['sh', '-c', 'echo nope >&2; exit 4']), runKey: '2.0.r0', once: true, step: 'local fail' }),
      (e: { type?: string; message: string }) => e.type === 'CommandFailed' && /worker: exit 4: nope/.test(e.message),
    );
    await assert.rejects(
      inWorkflow(wf).run(runCommand, { command: local(['sleep', '30'], { timeoutSeconds: 1 }), runKey: '3.0.r0', once: true, step: 'local slow' }),
      /timed out after 1s/,
    );
  });
});
