// rearPrepareStore on the lab's backup-store host: the ReaR seed's store preparation without its
// password. A system user with no login shell and no password ("*", not the "!" of passwd --lock, which sshd
// without PAM refuses even for keys), the directory 0750 owned by it, the controllers' public keys as the only
// way in: sftp with the key works, a shell login is refused. A second run changes nothing and says so; an
// existing user with a login shell has it taken away.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, afterEach, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { failureOf, onHost, resultApproving, testEnv, uniqueId, type RunningWorker, type TestEnv } from './harness.js';

let env: TestEnv;
let worker: RunningWorker;
const suffix = Math.random().toString(36).slice(2, 8);
const user = `rbk${suffix}`;
const shelled = `rbs${suffix}`;
const path = `/srv/runbooks-test-${suffix}/backup`;
const store = (script: string): string => onHost(env.inventory, 'backup-store', script);

before(async () => {
  env = await testEnv();
  worker = await env.startWorker();
});
afterEach(async () => env?.endRuns());
after(async () => {
  // The lab's hosts share the machine's /etc/passwd: leave no test account behind.
  store(
    `sudo -n userdel ${user} 2>/dev/null; sudo -n userdel ${shelled} 2>/dev/null; sudo -n groupdel ${user} 2>/dev/null; sudo -n rm -rf /srv/runbooks-test-${suffix}; true`,
  );
  await worker?.stop();
  await env?.close();
});

async function prepare(
  input: Record<string, unknown>,
): Promise<{ changed: string[]; summary: string; shell: string; availableBytes: number; h: WorkflowHandle }> {
  const h = await env.start('rearPrepareStore', uniqueId('rear-store'), { store: 'backup-store', requestedBy: 'alice', ...input });
  const r = (await resultApproving(h, ['prepare-store'])) as RunbookResult;
  return { ...(r.output as { changed: string[]; summary: string; shell: string; availableBytes: number }), h };
}

test('first run prepares the store; the second changes nothing and says so; the user cannot get a shell', async () => {
  const first = await prepare({ user, path });
  assert.deepEqual(first.changed, ['group', 'user', 'password', 'directory']);
  assert.ok(first.availableBytes > 0, 'free space reported');
  assert.equal(store(`sudo -n stat -c '%U:%G %a' ${path}`).trim(), `${user}:${user} 750`);
  assert.equal(store(`getent passwd ${user} | cut -d: -f7`).trim(), '/usr/sbin/nologin');
  assert.equal(store(`sudo -n getent shadow ${user} | cut -d: -f2`).trim(), '*', 'no password works, and the account is not "locked"');
  // A login (what sshd or su would start) gets nologin, not a shell.
  assert.match(store(`sudo -n runuser -l ${user} -c 'echo got a shell' 2>&1 || true`), /This account is currently not available/);

  const second = await prepare({ user, path });
  assert.deepEqual(second.changed, []);
  assert.equal(second.summary, 'no change: the store was already prepared');
  const r = (await second.h.result()) as RunbookResult;
  assert.deepEqual(
    r.steps.filter((s) => s.state === 'ok').map((s) => s.name),
    ['read the store', 'check that the store serves sftp without a shell', 'read the store again'],
    'only the reads ran',
  );
});

test('public keys are the way in (0600, owned by the user); an existing user with a login shell loses it', async () => {
  const key = readFileSync(`${JSON.parse(process.env.RUNBOOK_TEST_LAB!).dir}/ssh/id_ed25519.pub`, 'utf8')
    .trim()
    .split(' ')
    .slice(0, 2)
    .join(' ');
  const withKey = await prepare({ user, path, authorizedKeys: [`${key} controller-0`] });
  assert.deepEqual(withKey.changed, ['keys']);
  const home = store(`getent passwd ${user} | cut -d: -f6`).trim();
  assert.equal(store(`sudo -n stat -c '%U %a' ${home}/.ssh/authorized_keys`).trim(), `${user} 600`);
  assert.equal(store(`sudo -n cat ${home}/.ssh/authorized_keys`).trim(), `restrict ${key} controller-0`);
  assert.deepEqual((await prepare({ user, path, authorizedKeys: [`${key} controller-0`] })).changed, []);

  // What ReaR does with it: sftp with the key works (internal-sftp, no shell needed); a shell login is refused.
  const h = env.inventory.hosts['backup-store']!;
  const sshArgs = ['-i', h.identityFile, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'];
  const listing = execFileSync('sftp', [...sshArgs, '-b', '-', `${user}@${h.address}`], {
    input: `put /etc/hostname ${path}/sftp-probe\nls -l ${path}\n`,
    encoding: 'utf8',
  });
  assert.match(listing, /sftp-probe/);
  assert.equal(store(`sudo -n stat -c %U ${path}/sftp-probe`).trim(), user, 'written as the backup user');
  let shell = '';
  try {
    execFileSync('ssh', [...sshArgs, `${user}@${h.address}`, 'echo got a shell'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.fail('a shell command ran as the backup user');
  } catch (err) {
    shell = String((err as { stdout?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? '');
  }
  assert.match(shell, /This account is currently not available/);
  assert.doesNotMatch(shell, /got a shell/);
});

/** A refused target: the run fails at its first read (a verdict), naming the field; the store is as it was. */
async function refused(input: Record<string, unknown>): Promise<string> {
  const h = await env.start('rearPrepareStore', uniqueId('rear-store-refused'), { store: 'backup-store', requestedBy: 'alice', ...input });
  const f = await failureOf(h);
  const r = await h.describe();
  assert.equal(r.status.name, 'FAILED');
  return f.message;
}

test("accounts and directories that are not the store's own are refused before anything changes", async () => {
  // An account someone else made that can log in: it used to lose its shell and password.
  store(`sudo -n useradd --system --shell /bin/sh ${shelled}`);
  const passwdBefore = store(`getent passwd ${shelled}; sudo -n getent shadow ${shelled} | cut -d: -f2`);
  assert.match(await refused({ user: shelled, path: `${path}-2` }), new RegExp(`user: ${shelled} exists with the login shell /bin/sh`));
  assert.equal(store(`getent passwd ${shelled}; sudo -n getent shadow ${shelled} | cut -d: -f2`), passwdBefore, 'the account is untouched');
  assert.equal(store(`test -e ${path}-2 && echo exists || echo absent`).trim(), 'absent');
  // The worker's own login account (rbops in the lab): it would be locked out of the store.
  const login = env.inventory.hosts['backup-store']!.user;
  assert.match(await refused({ user: login, path: `${path}-3` }), new RegExp(`user: ${login} is the account the worker logs in`));
  // Debian's own system account "backup" (uid 34, home /var/backups): not ours.
  assert.match(await refused({ user: 'backup', path: `${path}-4` }), /user: backup is an existing system account \(uid 34/);
  // Another account's home.
  const home = store(`getent passwd ${login} | cut -d: -f6`).trim();
  assert.match(await refused({ user, path: `${home}/rear` }), new RegExp(`path: ${home}/rear is inside the home of ${login}`));
});

// (Not a private key as the bad value: the rejected input still sits in the run's start event, and the
// secrets scan of zz-secrets.test.ts rightly flags a private-key block anywhere in history.)
test('root and system directories are refused in the input, naming the field; nothing runs', async () => {
  for (const [input, says] of [
    [{ user: 'root' }, /user: not root/],
    [{ path: '/etc' }, /path: \/etc is a system directory/],
    [{ path: '/usr/local/backup' }, /path: \/usr\/local\/backup is inside \/usr/],
    [{ path: '/var' }, /path: \/var is a system directory/],
    [{ path: '/home/alice' }, /path: \/home\/alice is a user's home/],
  ] as const) {
    const h = await env.start('rearPrepareStore', uniqueId('rear-store-input'), { store: 'backup-store', requestedBy: 'alice', ...input });
    await assert.rejects(h.result(), (err: Error) => says.test(String((err as { cause?: Error }).cause?.message ?? err.message)));
  }
});

test('bad names are refused naming the field; nothing runs', async () => {
  const h = await env.start('rearPrepareStore', uniqueId('rear-store-bad'), {
    store: 'backup-store',
    user: 'root;id',
    path: '/data/../etc',
    authorizedKeys: ['ssh-ed25519 not-a-key; rm -rf /'],
    requestedBy: 'alice',
  });
  await assert.rejects(h.result(), (err: Error) => /user: .*path: .*authorizedKeys\.0/s.test(String((err as { cause?: Error }).cause?.message ?? err.message)));
});
