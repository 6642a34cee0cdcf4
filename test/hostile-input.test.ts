// Hostile input, generated (fast-check): shell metacharacters, quotes, newlines, ".." paths, option-like
// values, huge strings and wrong types, into every runbook's input schema and into the one quoting function
// and the command runner on a real lab host. The bar: 0 executions of injected text (canary files on the
// host are never created), and every rejection names the field. Figures are printed.
import { labSshArgv } from '../scripts/lab/lab-ssh.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { MockActivityEnvironment } from '@temporalio/testing';
import { AuditStore } from '../activities/runbook/audit-store.js';
import { makeRunCommand } from '../activities/ssh/command.js';
import { InvalidCommandError, quoteArgv } from '../activities/ssh/shell-quote.js';
import { SshPool } from '../activities/ssh/ssh.js';
import { loadInventory, type Inventory } from '../workers/inventory.js';
import { runbookInputs } from '../workflows/catalog.js';
import { remote, type CommandResult } from '../workflows/engine/commands.js';
import { invalidInput } from '../workflows/engine/input-fields.js';
import { failureOf, onHost, scratchDir, testEnv, uniqueId, type TestEnv } from './harness.js';

const HOST = 'cloud-client';
const CANARY = `/tmp/canary-${randomBytes(6).toString('hex')}`;
let inventory: Inventory;
let env: TestEnv;

/** Payloads that would create the canary if any shell ever interpreted them. */
const INJECTIONS = [
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `; touch ${CANARY}`,
  `&& touch ${CANARY}`,
  `| touch ${CANARY}`,
  `\ntouch ${CANARY}\n`,
  `'; touch ${CANARY}; '`,
  `"; touch ${CANARY}; "`,
  `$(touch\t${CANARY})`,
  `'$(touch ${CANARY})'`,
  `\\'; touch ${CANARY} #`,
  `\${IFS}touch\${IFS}${CANARY}`,
  `>${CANARY}`,
  `<(touch ${CANARY})`,
];
const hostileString = fc.oneof(
  fc.constantFrom(...INJECTIONS, '..', '../../etc/passwd', '/x/../../y', '-rf', '--help', '--', '-', '', ' ', '*', '~', '$HOME', '\\', "'", '"', '\t', '\r\n'),
  fc.string({ unit: fc.constantFrom(...`;|&$\`'"\\<>(){}[]*?~#!= \n\t-./abcXYZ019`.split('')), maxLength: 40 }),
  fc.tuple(fc.constantFrom(...INJECTIONS), fc.string({ maxLength: 10 })).map(([a, b]) => `${b}${a}${b}`),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer({ min: 10_000, max: 100_000 }).map((n) => 'A'.repeat(n)),
);
const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), hostileString, { maxKeys: 2 }),
);

/** The top-level field names of a runbook's schema (objects, possibly refined). */
function keysOf(schema: unknown): string[] {
  const s = schema as { shape?: Record<string, unknown>; _zod?: { def?: { shape?: Record<string, unknown>; in?: { shape?: Record<string, unknown> } } } };
  return Object.keys(s.shape ?? s._zod?.def?.shape ?? s._zod?.def?.in?.shape ?? {});
}

before(async () => {
  env = await testEnv();
  inventory = loadInventory(process.env.RUNBOOK_INVENTORY);
  onHost(inventory, HOST, `rm -f ${CANARY}`);
});
after(async () => env?.close());

const accepted: string[] = [];

/** One valid input per runbook (as in the README's catalogue): the base that single-field mutations start from. */
const VALID: Record<string, Record<string, unknown>> = {
  hostFacts: { hosts: ['lava-master'] },
  labDrill: { host: 'lava-master', steps: 3, requestedBy: 'alice' },
  lavaMasterBackup: { master: 'lava-master', store: 'backup-store', requestedBy: 'alice', label: 'pre-upgrade' },
  lavaWorkerBackup: { worker: 'lava-worker', store: 'backup-store', requestedBy: 'alice', pduScripts: ['/usr/local/bin/pdu-control'] },
  lavaBackupVerify: { store: 'backup-store', requestedBy: 'alice', bundle: 'latest' },
  lavaMasterRestore: { master: 'lava-master', store: 'backup-store', bundle: 'latest', requestedBy: 'alice' },
  lavaWorkerRestore: { worker: 'lava-worker', master: 'lava-master', store: 'backup-store', bundle: 'latest', requestedBy: 'alice' },
  openstackSnapshot: { cloud: 'lab', server: 'web-1', name: 'web-1-ref', requestedBy: 'alice' },
  openstackRollback: { cloud: 'lab', server: 'web-1', image: 'web-1-ref', requestedBy: 'alice' },
  openstackClone: { cloud: 'lab', server: 'web-1', newName: 'web-2', flavor: 'm2.small', keyName: 'lab-key', requestedBy: 'alice' },
  openstackMove: { fromCloud: 'lab', toCloud: 'lab2', server: 'app-1', keepName: false, newName: 'app-2', requestedBy: 'alice' },
  openstackRename: { cloud: 'lab', server: 'db-1', newName: 'db-2', requestedBy: 'alice' },
  snoPreUpgradeBackup: { node: 'sno-node', requestedBy: 'alice' },
  snoUpgradeRecovery: { node: 'sno-node', requestedBy: 'alice' },
  rearPrepareStore: { store: 'backup-store', requestedBy: 'alice' },
  rearControllerRecovery: { hypervisor: 'hypervisor', domain: 'controller-0', store: 'backup-store', mode: 'manual', requestedBy: 'alice' },
  rearRecoveryDrill: { hypervisor: 'hypervisor', domain: 'controller-0', store: 'backup-store', sshPort: 2299, requestedBy: 'alice' },
  rearBackup: { nodes: ['controller-0'], store: 'backup-store', requestedBy: 'alice', output: 'ISO', backup: 'NETFS', exclude: ['/var/cache/*'] },
};

test('one hostile field in an otherwise valid input: rejected naming exactly that field, or accepted as plain data', () => {
  let tried = 0;
  let rejected = 0;
  for (const [name, build] of Object.entries(runbookInputs)) {
    const schema = build();
    const base = VALID[name];
    assert.ok(base, `${name}: add a valid example to VALID`);
    assert.ok(schema.safeParse(base).success, `${name}: the valid example parses`);
    fc.assert(
      fc.property(fc.constantFrom(...keysOf(schema)), fc.oneof(hostileString, wrongType), (key, bad) => {
        tried++;
        const r = schema.safeParse({ ...base, [key]: bad });
        if (r.success) {
          accepted.push(...[bad].flat().filter((v): v is string => typeof v === 'string'));
          return;
        }
        rejected++;
        const { fields } = invalidInput(r.error.issues);
        assert.ok(fields.length > 0 && fields.every((f) => f === key || f.startsWith(`${key}.`)), `${name}.${key}: rejection names ${fields.join(', ')}`);
      }),
      { numRuns: 100, seed: 42 },
    );
  }
  console.log(`hostile-input: one bad field in a valid input: ${tried} inputs, ${rejected} rejected naming exactly that field, ${tried - rejected} accepted`);
  assert.ok(tried >= 1000);
});

test('≥ 1,000 hostile inputs into every runbook schema: each rejection names its field, nothing slips through unnamed', () => {
  const names = Object.keys(runbookInputs);
  let tried = 0;
  let rejected = 0;
  for (const name of names) {
    const schema = runbookInputs[name]!();
    const keys = keysOf(schema);
    assert.ok(keys.length > 0, `${name}: schema fields found`);
    const input = fc.dictionary(fc.constantFrom(...keys, 'unexpected', '__proto__x'), fc.oneof(hostileString, wrongType), {
      minKeys: 1,
      maxKeys: keys.length + 1,
    });
    fc.assert(
      fc.property(input, fc.boolean(), (raw, withRequester) => {
        const value = withRequester ? { requestedBy: 'alice', ...raw } : raw;
        tried++;
        const r = schema.safeParse(value);
        if (r.success) {
          const walk = (v: unknown): void => {
            if (typeof v === 'string') accepted.push(v);
            else if (v && typeof v === 'object') Object.values(v).forEach(walk);
          };
          walk(r.data);
          return;
        }
        rejected++;
        const { message, fields } = invalidInput(r.error.issues);
        assert.ok(fields.length > 0, `${name}: a rejection names no field: ${message}`);
        for (const f of fields) {
          const top = f.split('.')[0]!;
          assert.ok(top === '(input)' || keys.includes(top) || top in value, `${name}: "${f}" is not a field of the input`);
          assert.ok(message.includes(f), `${name}: the message names ${f}`);
        }
      }),
      { numRuns: 120, seed: 20261122 },
    );
  }
  console.log(`hostile-input: schemas of ${names.length} runbooks: ${tried} inputs, ${rejected} rejected naming their fields, ${tried - rejected} accepted`);
  assert.ok(tried >= 1000);
});

test('hostile argv through quoteArgv on a real host: every value arrives byte for byte, the canary is never created', () => {
  const argvs = fc.sample(fc.array(hostileString, { minLength: 1, maxLength: 4 }), { numRuns: 1000, seed: 7 });
  // Values accepted by the schemas travel the same road.
  for (let i = 0; i < accepted.length; i += 3) argvs.push(accepted.slice(i, i + 3));
  let refused = 0;
  let sent = 0;
  for (let b = 0; b < argvs.length; b += 100) {
    const batch = argvs.slice(b, b + 100).filter((argv) => {
      try {
        quoteArgv(argv);
        return true;
      } catch (err) {
        assert.ok(err instanceof InvalidCommandError);
        refused++; // a NUL byte cannot be passed on at all: refused, never truncated
        return false;
      }
    });
    // One script per batch on stdin (no command-line size limit): each argv printed NUL-separated, then a record mark.
    const script = batch.map((argv) => `${quoteArgv(['printf', '%s\\0', ...argv])}; printf '\\036\\n'`).join('\n');
    const h = inventory.hosts[HOST]!;
    const out = execFileSync('ssh', [...labSshArgv(h).slice(1), 'sh -s'], { input: script, maxBuffer: 64 * 1024 * 1024 });
    const records = out.toString('utf8').split('\u001e\n').slice(0, -1);
    assert.equal(records.length, batch.length);
    records.forEach((rec, k) => {
      assert.deepEqual(rec.split('\0').slice(0, -1), batch[k], 'the value arrived unchanged');
    });
    sent += batch.length;
  }
  assert.equal(onHost(inventory, HOST, `test -e ${CANARY} && echo CREATED || echo absent`).trim(), 'absent', 'no injected text ran');
  console.log(`hostile-input: ${sent} argv round-tripped through a remote shell unchanged, ${refused} refused (NUL), canary hits 0`);
});

test('hostile argv through the command runner (sudo, env, host-enforced timeout, run keys): same bytes back, canary never created', async () => {
  const ssh = new SshPool(inventory);
  const runCommand = makeRunCommand(ssh, new AuditStore(scratchDir('hostile-audit')));
  const act = new MockActivityEnvironment({ workflowExecution: { workflowId: uniqueId('hostile'), runId: 'run-1' }, heartbeatTimeoutMs: 20_000 });
  const argvs = fc.sample(
    fc.array(
      hostileString.filter((s) => !s.includes('\0') && s.length < 5000),
      { minLength: 1, maxLength: 3 },
    ),
    { numRuns: 60, seed: 11 },
  );
  try {
    for (const [k, argv] of argvs.entries()) {
      const r: CommandResult = await act.run(runCommand, {
        command: remote(HOST, ['printf', '%s\\0', ...argv], { sudo: k % 2 === 0, timeoutSeconds: 30, env: { HOSTILE: argv[0]! } }),
        runKey: `h${k}`,
        once: k % 3 === 0,
        step: argv[0]!.slice(0, 50),
      });
      assert.equal(r.exitCode, 0);
      if (r.stdoutBytes < 4000) assert.deepEqual(r.stdoutTail.split('\0').slice(0, -1), argv);
    }
  } finally {
    ssh.closeAll();
  }
  assert.equal(onHost(inventory, HOST, `test -e ${CANARY} && echo CREATED || echo absent`).trim(), 'absent');
  console.log(`hostile-input: ${argvs.length} hostile commands through runCommand, canary hits 0`);
});

test('hostile inputs started as real runs fail with InvalidInput naming the field; nothing runs', async () => {
  const worker = await env.startWorker();
  try {
    const cases: [string, Record<string, unknown>, string][] = [
      ['labDrill', { host: `x; touch ${CANARY}`, steps: 1, requestedBy: 'alice' }, 'host'],
      ['lavaMasterBackup', { master: 'lava-master', store: 'backup-store', requestedBy: 'alice', label: `$(touch ${CANARY})` }, 'label'],
      ['snoPreUpgradeBackup', { node: 'sno-node', recoveryDir: '/var/../etc', requestedBy: 'alice' }, 'recoveryDir'],
      ['lavaWorkerBackup', { worker: 'lava-worker', store: 'backup-store', pduScripts: ['--help'], requestedBy: 'alice' }, 'pduScripts.0'],
      ['hostFacts', { hosts: ['-oProxyCommand=touch'] }, 'hosts.0'],
    ];
    for (const [type, input, field] of cases) {
      const h = await env.start(type, uniqueId('hostile-run'), input);
      const f = await failureOf(h);
      assert.equal(f.type, 'InvalidInput', `${type}: ${f.message}`);
      assert.match(f.message, new RegExp(field.replace('.', '\\.')));
      const scheduled = (await h.fetchHistory()).events!.filter((e) => e.activityTaskScheduledEventAttributes).length;
      assert.equal(scheduled, 0, `${type}: no activity was scheduled`);
    }
  } finally {
    await worker.stop();
  }
  assert.equal(onHost(inventory, HOST, `test -e ${CANARY} && echo CREATED || echo absent`).trim(), 'absent');
});
