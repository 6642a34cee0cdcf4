// The engine's pure decisions, without a lab or a server: how a plan renders what will run, what its
// fingerprint covers, what a gate shows of conditional steps, and which operator decisions are refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { local, remote, type Command } from '../../workflows/engine/commands.js';
import { onlyIf } from '../../workflows/engine/context.js';
import { decisionRefusal } from '../../workflows/engine/decisions.js';
import { gatePlan } from '../../workflows/engine/gate-runner.js';
import { bindingOf, canonicalRunnable, fingerprintOf, renderCommand, renderRunnable } from '../../workflows/engine/plan.js';
import type { RunState } from '../../workflows/engine/state.js';
import { activity, change, gate, once, read, type Entry } from '../../workflows/engine/steps.js';

/** A run's state as the engine keeps it, for functions that only read it. */
function stateWith(entries: Entry<unknown>[], over: Partial<RunState> = {}): RunState {
  return {
    def: { name: 'unitDrill', input: () => undefined as never, hosts: () => [], procedure: () => ({ steps: [] }) },
    info: { workflowId: 'wf-1', runId: 'run-1', runStartTime: new Date('2026-12-01T00:00:00Z') } as RunState['info'],
    view: {
      runbook: 'unitDrill',
      requestedBy: 'alice',
      requesterVerified: false,
      dryRun: false,
      status: 'Running',
      stepsDone: 0,
      steps: [],
      approvals: [],
      audit: { commands: 0, failed: 0 },
      decisions: [],
      ignored: [],
    },
    input: { requestedBy: 'alice' },
    entries,
    cleanup: [],
    results: new Map(),
    mutationPlanned: false,
    plan: [],
    pendingVerdicts: [],
    pendingDecisions: [],
    leased: { locks: [] },
    restarts: 0,
    phaseSince: new Date(0),
    approvedPlans: new Map(),
    prefetched: new Map(),
    ...over,
  };
}

describe('a command renders with everything that shapes what it does', () => {
  const rows: [string, Command, string][] = [
    ['plain words stay plain', remote('db-1', ['systemctl', 'stop', 'lava-server-gunicorn']), 'db-1$ systemctl stop lava-server-gunicorn'],
    [
      'sudo and a host-side timeout',
      remote('db-1', ['pg_dump', 'lavaserver'], { sudo: true, timeoutSeconds: 3600 }),
      'db-1$ sudo timeout 3600 pg_dump lavaserver',
    ],
    ['a word with spaces is quoted', remote('m', ['sh', '-c', 'echo $1', 'x']), 'm$ sh -c "echo $1" x'],
    ['cwd and environment', remote('m', ['make'], { cwd: '/srv/a b', env: { LC_ALL: 'C' } }), 'm$ cd "/srv/a b" && LC_ALL=C make'],
    ['a local command runs on the worker', local(['virsh', 'list']), 'worker$ virsh list'],
  ];
  for (const [what, cmd, shown] of rows) test(what, () => assert.equal(renderCommand(cmd), shown));

  test('stdin shows its size and digest, never its text', () => {
    const shown = renderCommand(remote('m', ['sh'], { stdin: 'secret-looking script\n' }));
    assert.match(shown, /< stdin\(22 bytes, sha256 [0-9a-f]{16}\)$/);
    assert.doesNotMatch(shown, /secret-looking/);
  });
});

describe('the fingerprint covers exactly what runs', () => {
  const base = remote('m', ['sh', '-c', 'cat > "$1"', 'x', '/var/tmp/f'], { stdin: 'abc', env: { A: '1' }, cwd: '/tmp', timeoutSeconds: 60 });
  const fp = (c: Command): string => fingerprintOf(canonicalRunnable(c));
  const variants: [string, Command][] = [
    ['another stdin', { ...base, stdin: 'abd' }],
    ['another environment', { ...base, env: { A: '2' } }],
    ['another working directory', { ...base, cwd: '/' }],
    ['another timeout', { ...base, timeoutSeconds: 61 }],
    ['sudo', { ...base, sudo: true }],
    ['another host', { ...base, host: 'n' }],
  ];
  for (const [what, other] of variants) test(`${what} changes it`, () => assert.notEqual(fp(other), fp(base)));
  test('key order does not', () => assert.equal(fp({ ...base, env: { A: '1' } }), fp(base)));
  test('the approval binding ignores only time limits', () => {
    assert.equal(bindingOf(canonicalRunnable({ ...base, timeoutSeconds: 5 })), bindingOf(canonicalRunnable(base)));
    assert.notEqual(bindingOf(canonicalRunnable({ ...base, stdin: 'x' })), bindingOf(canonicalRunnable(base)));
  });
  test('a stream shows both ends and its transform', () => {
    const call = activity('pipeCommands', {
      from: remote('store', ['cat', 'a.sql.age']),
      to: remote('master', ['psql']),
      step: 's',
      transform: { decrypt: true },
    });
    assert.deepEqual(renderRunnable(call), ['store$ cat a.sql.age | worker$ age --decrypt | master$ psql']);
    const plain = activity('pipeCommands', { from: remote('store', ['cat', 'a.sql.age']), to: remote('master', ['psql']), step: 's' });
    assert.notEqual(fingerprintOf(canonicalRunnable(call)), fingerprintOf(canonicalRunnable(plain)));
  });
});

describe('a gate shows what approving it runs', () => {
  const encrypted = read('read the settings', () => remote('m', ['cat', '/etc/x']), { parse: () => ({ encrypted: false }) });
  const decrypt = change('decrypt the bundle', () => remote('m', ['age', '-d']), {
    when: onlyIf('the bundle is encrypted', (ctx) => encrypted.value(ctx).encrypted),
  });
  const drop = once('drop the database', () => remote('m', ['dropdb', 'lava']), { danger: true });
  const g = gate<unknown>('replace-database', () => ['the current database is dumped first']);
  const entries = [encrypted, g, decrypt, drop, gate('next'), once('after', () => remote('m', ['true']))] as Entry<unknown>[];

  test('an undecidable condition is shown as the condition, with its commands', () => {
    const p = gatePlan(stateWith(entries), g, 1);
    assert.deepEqual(p.lines, [
      'the current database is dumped first',
      'decrypt the bundle:',
      '  (only if the bundle is encrypted)',
      '  m$ age -d',
      'drop the database [DANGER]:',
      '  m$ dropdb lava',
    ]);
  });
  test('a condition that does not hold shows no command that will be skipped', () => {
    const s = stateWith(entries);
    s.results.set(encrypted, { encrypted: false });
    const p = gatePlan(s, g, 1);
    assert.ok(p.lines.includes('  (not run: the bundle is encrypted does not hold)'));
    assert.ok(!p.lines.includes('  m$ age -d'));
    assert.equal(p.steps.has(decrypt), false, 'nothing to bind for a step that will not run');
    assert.equal(p.steps.has(drop), true, 'the dangerous step is bound to its commands');
  });
  test('the fingerprint changes when a guarded command changes', () => {
    const other = [encrypted, g, decrypt, once('drop the database', () => remote('m', ['dropdb', 'lava2']), { danger: true })] as Entry<unknown>[];
    assert.notEqual(gatePlan(stateWith(entries), g, 1).fingerprint, gatePlan(stateWith(other), g, 1).fingerprint);
  });
});

describe("after a restart, a gate does not bind a step to the first pass's values", () => {
  const bootId = read('read the boot id', () => remote('n', ['cat', '/proc/sys/kernel/random/boot_id']), { parse: () => 'first-pass-boot' });
  const g = gate<unknown>('restore-files');
  const wait = change('wait for the node', (ctx) => remote('n', ['wait-for-new-boot', bootId.value(ctx)]));
  test('the guarded step shows that it depends on a step the gate guards', () => {
    const s = stateWith([g, bootId, wait] as Entry<unknown>[]);
    s.results.set(bootId, 'first-pass-boot');
    const p = gatePlan(s, g, 0);
    assert.equal(p.steps.has(wait), false);
    assert.ok(p.lines.includes('  (commands depend on the result of step "read the boot id")'), p.lines.join('\n'));
  });
});

describe('operator decisions that are refused', () => {
  const check = read('check the fetched files', () => remote('m', ['sha256sum', '-c']), { expect: () => 'mismatch' });
  const plain = change('start the scheduler', () => remote('m', ['service', 'lava-scheduler', 'start']));
  const parkedAt = (step: typeof check | typeof plain, over: Partial<RunState> = {}): RunState => {
    const s = stateWith([check, plain] as Entry<unknown>[], over);
    s.parked = { step, index: 0, nonce: 'n-1' };
    s.view.parked = { step: step.name, error: 'x', nonce: 'n-1', fingerprint: 'f', runId: 'run-1' };
    return s;
  };
  const rows: [string, RunState, Parameters<typeof decisionRefusal>[1], RegExp | undefined][] = [
    ['skip of a check', parkedAt(check), { decision: 'skip', operator: 'bob' }, /is a check and cannot be skipped/],
    ['retry of a check', parkedAt(check), { decision: 'retry', operator: 'bob' }, undefined],
    ['skip of a plain step', parkedAt(plain), { decision: 'skip', operator: 'bob' }, undefined],
    ['nothing parked', stateWith([]), { decision: 'retry', operator: 'bob' }, /nothing is parked/],
    ['restart without a restart point', parkedAt(plain), { decision: 'restart', operator: 'bob' }, /has no restart point/],
    ['an unknown decision', parkedAt(plain), { decision: 'explode' as 'retry', operator: 'bob' }, /a decision is/],
  ];
  for (const [what, s, d, refused] of rows) {
    test(what, () => {
      const why = decisionRefusal(s, d);
      if (refused) assert.match(why ?? '', refused);
      else assert.equal(why, undefined);
    });
  }
});
