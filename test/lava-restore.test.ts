// LAVA restores on the lab's REAL lava-server 2023.01 + PostgreSQL, in order:
// 1. a base backup, taken with one job caught RUNNING; a worker restore is refused while devices are in service;
// 2. a dry run lists every step and command, runs no `migrate`, and changes nothing;
// 3. a bundle recording an older lava-server than the installed one is refused in preflight;
// 4. a dump missing one django_migrations row parks the run after the DB restore; skip is refused; nothing
//    after the migration check runs;
// 5. full cycle: damage (a new job, device dictionaries deleted, database dropped) → restore → devices,
//    workers, jobs and dictionaries are the backup's, all devices Maintenance, the running job failed;
// 6. lavaWorkerRestore puts back a clobbered worker token (0600) and the worker comes back Online.
// Also: the database replacement waits for a closing session and refuses one that stays (scratch database).
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { failureOf, historyText, refusedUpdate, status, type TestEnv, uniqueId, waitFor } from './harness.js';
import { saveHistory } from './history-files.js';
import { lavaSuite, settled } from './lava-suite.js';
import { bundleStamp } from '../workflows/lava/backup-store.js';
import { quoteArgv } from '../workflows/engine/shell-quote.js';
import { replaceDatabase } from '../workflows/lava/restore-commands.js';

const suite = lavaSuite();
const { store, master, sql } = suite;
let env: TestEnv;
before(async () => {
  await suite.ready;
  ({ env } = suite);
});
let base = ''; // the base bundle's path on the store
let runningJob = 0;
let before_: { devices: string; workers: string; jobs: string; dictionaries: string } | undefined;

const DICTS = '/etc/lava-server/dispatcher-config/devices';
/** Worker files beyond the token that the worker backup saves and the worker restore puts back. */
const WORKER_SETUP: Record<string, string> = {
  '/etc/ser2net.yaml': 'connection: &lab01 accepter: telnet(rfc2217),tcp,7001',
  '/etc/udev/rules.d/99-lava-lab.rules': 'SUBSYSTEM==tty, SYMLINK+=lab01',
  '/usr/local/bin/lab-pdu': 'echo lab-pdu',
};
const dictionaries = (): string =>
  readdirSync(DICTS)
    .sort()
    .map((f) => `${f} ${execFileSync('sha256sum', [`${DICTS}/${f}`], { encoding: 'utf8' }).split(' ')[0]}`)
    .join('\n');
const snapshot = () => ({
  devices: sql('select hostname, device_type_id, worker_host_id from lava_scheduler_app_device order by 1'),
  workers: sql('select hostname, health from lava_scheduler_app_worker order by 1'),
  jobs: sql('select id, description from lava_scheduler_app_testjob order by 1'),
  dictionaries: dictionaries(),
});
const serviceRunning = (s: string): boolean => master(`sudo -n service ${s} status >/dev/null 2>&1 && echo yes || echo no`).trim() === 'yes';

/** Approves each gate in turn as bob (the requester is alice: four eyes). */
async function approve(h: WorkflowHandle, gates: string[]): Promise<void> {
  for (const gate of gates) {
    const v = await waitFor(
      `gate ${gate}`,
      async () => {
        const s = await status(h);
        if (['Completed', 'Failed', 'Aborted', 'Parked'].includes(s.status)) return s;
        return s.openGate?.name === gate && s;
      },
      300_000,
    );
    assert.equal(v.openGate?.name, gate, `expected gate ${gate}, got ${v.status}: ${v.parked?.step ?? ''} ${v.parked?.error ?? v.lastError ?? ''}`);
    await h.executeUpdate('approve', { args: [{ gate, approver: 'bob', reason: `test: ${gate}` }] });
  }
}

/** The run parks on the health checks (devices in Maintenance); the lab's stand-in for them, then a retry. */
async function throughHealthChecks(h: WorkflowHandle): Promise<void> {
  const p = await waitFor(
    'the health-check park',
    async () => (await status(h)).parked?.step === 'check the health checks have passed' && (await status(h)),
    300_000,
  );
  assert.ok(p);
  for (const d of ['qemu01', 'qemu02']) master(`sudo -n lava-server manage devices update --health GOOD ${d}`);
  await h.executeUpdate('decide', { args: [{ decision: 'retry', operator: 'bob', reason: 'test: health checks passed' }] });
}

/** A copy of the base bundle under a later stamp, changed by `edit` (a python snippet with b = bundle dir). */
function variant(label: string, offsetS: number, edit: string): string {
  const dir = base.slice(0, base.lastIndexOf('/'));
  const name = `${bundleStamp(new Date(Date.now() + offsetS * 1000))}-${label}`;
  store(`cp -a ${base} ${dir}/${name}`);
  store(`python3 - ${dir}/${name} ${suite.lab.pgPort} <<'PY'
import hashlib, json, os, subprocess, sys
b, port = sys.argv[1], sys.argv[2]
m = json.load(open(os.path.join(b, 'manifest.json')))
def redump(sql):
    # The custom-format dump changed by SQL: restored into a scratch database of the lab server, changed, dumped again.
    pg = ['-h', '127.0.0.1', '-p', port, '-U', 'postgres']
    subprocess.run(['dropdb', '--if-exists', *pg, 'variant_tmp'], check=True)
    subprocess.run(['createdb', *pg, '-O', 'lavaserver', 'variant_tmp'], check=True)
    subprocess.run(['pg_restore', '--exit-on-error', *pg, '-d', 'variant_tmp', os.path.join(b, 'lava-server.dump')], check=True)
    subprocess.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', *pg, '-d', 'variant_tmp', '-c', sql], check=True)
    with open(os.path.join(b, 'lava-server.dump'), 'wb') as f: subprocess.run(['pg_dump', '-Fc', *pg, 'variant_tmp'], stdout=f, check=True)
    subprocess.run(['dropdb', *pg, 'variant_tmp'], check=True)
${edit}
def reseal(f):
    data = open(os.path.join(b, f), 'rb').read()
    m['files'][f] = {'size': len(data), 'sha256': hashlib.sha256(data).hexdigest()}
    m.setdefault('plaintext', {})[f] = m['files'][f]['sha256']
for f in list(m['files']): reseal(f)
json.dump(m, open(os.path.join(b, 'manifest.json'), 'w'), indent=2, sort_keys=True)
PY`);
  // As a worker signs it: the variants stand for bundles a backup could really have written.
  suite.resign(`${dir}/${name}`);
  return name;
}

test('base backup with a job caught running; a worker restore is refused while devices are in service', async () => {
  // A master in service, whatever an earlier run of this file left: services up, devices Good.
  for (const svc of ['lava-server-gunicorn', 'lava-publisher', 'lava-scheduler']) master(`sudo -n service ${svc} start`);
  for (const d of ['qemu01', 'qemu02']) master(`sudo -n lava-server manage devices update --health GOOD ${d}`);
  // The worker is stopped so nothing touches the job we mark RUNNING (the restore will start it again).
  master('sudo -n service lava-worker stop');
  runningJob = Number(sql('select min(id) from lava_scheduler_app_testjob'));
  sql(`update lava_scheduler_app_testjob set state = 3 where id = ${runningJob}`);
  before_ = snapshot();
  const h = await env.start('lavaMasterBackup', uniqueId('restore-base'), {
    master: 'lava-master',
    store: 'backup-store',
    requestedBy: 'alice',
    label: 'restore-base',
  });
  const v = await settled(h);
  assert.equal(v.status, 'Completed', `${v.parked?.step}: ${v.parked?.error}`);
  base = ((await h.result()) as { output: { bundle: string } }).output.bundle;

  // The worker's own setup the source names: a ser2net config, a udev rule and a local PDU script.
  for (const [f, text] of Object.entries(WORKER_SETUP)) master(`sudo -n sh -c 'mkdir -p $(dirname ${f}) && printf "%s\\n" "${text}" > ${f}'`);
  const wb = await env.start('lavaWorkerBackup', uniqueId('restore-wbase'), {
    worker: 'lava-master',
    store: 'backup-store',
    requestedBy: 'alice',
    pduScripts: ['/usr/local/bin/lab-pdu'],
  });
  assert.equal((await settled(wb)).status, 'Completed');
  master('sudo -n service lava-worker start');
  const wr = await env.start('lavaWorkerRestore', uniqueId('worker-refused'), {
    worker: 'lava-master',
    master: 'lava-master',
    store: 'backup-store',
    bundle: 'latest',
    requestedBy: 'alice',
  });
  assert.equal((await settled(wr)).status, 'Failed');
  assert.match((await failureOf(wr)).message, /devices on lava-master still in service: qemu01/);
});

test('dry run: every step and command, no migrate anywhere, nothing changed', async () => {
  const jobs = sql('select count(*) from lava_scheduler_app_testjob');
  const h = await env.start('lavaMasterRestore', uniqueId('restore-dry'), {
    master: 'lava-master',
    store: 'backup-store',
    bundle: base.split('/').pop(),
    requestedBy: 'alice',
    dryRun: true,
  });
  const res = (await h.result()) as RunbookResult;
  assert.equal(res.status, 'Completed');
  const names = res.plan!.map((p) => p.name);
  for (const n of [
    'check every file against the manifest',
    'compare the lava-server version',
    'maintenance-window',
    'stop the LAVA services',
    'replace-database',
    'dump the current database to the store',
    'replace the database',
    'check migrations (never migrate)',
    'put every device into maintenance',
    'restore the configuration',
    'fail the jobs that were running',
    'workers',
    'start the web UI for the workers',
    'wait for the workers to be online',
    'check the health checks have passed',
    'reopen',
  ]) {
    assert.ok(names.includes(n), `plan has "${n}": ${names.join(' | ')}`);
  }
  // The UI reopens only after the workers and the health checks (the source's order).
  assert.ok(
    names.indexOf('start the web UI for the workers') < names.indexOf('wait for the workers to be online') &&
      names.indexOf('wait for the workers to be online') < names.indexOf('check the health checks have passed') &&
      names.indexOf('check the health checks have passed') < names.indexOf('reopen'),
  );
  assert.ok(
    names.indexOf('replace-database') < names.indexOf('replace the database') &&
      names.indexOf('replace the database') < names.indexOf('check migrations (never migrate)'),
  );
  const commands = res.plan!.flatMap((p) => p.commands);
  assert.ok(commands.some((c) => c.includes('showmigrations --plan')));
  assert.deepEqual(
    commands.filter((c) => /\b(migrate|makemigrations)\b/.test(c)),
    [],
    'no migrate in any planned command',
  );
  // …nor in any command the LAVA runbooks can build (argv words in the sources).
  for (const f of readdirSync('workflows/lava', { recursive: true, encoding: 'utf8' }).filter((n) => /\.(ts|sh|py)$/.test(n))) {
    assert.doesNotMatch(readFileSync(`workflows/lava/${f}`, 'utf8'), /['"](migrate|makemigrations)['"]/, f);
  }
  assert.equal(sql('select count(*) from lava_scheduler_app_testjob'), jobs);
  assert.ok(serviceRunning('lava-scheduler') && serviceRunning('lava-server-gunicorn'), 'services untouched');
  assert.equal(master('ls /var/tmp/runbooks-restore 2>/dev/null | wc -l').trim(), '0');
});

test('a bundle recorded with a NEWER lava-server than the installed one is refused in preflight, naming both, nothing changed', async () => {
  const name = variant('newver', 3700, "m['versions']['lava-server'] = '2099.01+12.0'");
  try {
    const h = await env.start('lavaMasterRestore', uniqueId('restore-older-code'), {
      master: 'lava-master',
      store: 'backup-store',
      bundle: name,
      requestedBy: 'alice',
    });
    assert.equal((await settled(h)).status, 'Failed');
    const installed = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'lava-server'], { encoding: 'utf8' });
    assert.ok(
      (await failureOf(h)).message.includes(`the bundle records lava-server 2099.01+12.0, newer than the installed ${installed}`),
      (await failureOf(h)).message,
    );
    assert.ok(serviceRunning('lava-scheduler') && serviceRunning('lava-server-gunicorn'), 'nothing was stopped');
  } finally {
    store(`rm -rf ${base.slice(0, base.lastIndexOf('/'))}/${name}`);
  }
});

test('a bundle recorded with an older lava-server than the installed one is refused in preflight', async () => {
  const name = variant('oldver', 3600, "m['versions']['lava-server'] = '2022.11+10.0'");
  try {
    const h = await env.start('lavaMasterRestore', uniqueId('restore-newer'), {
      master: 'lava-master',
      store: 'backup-store',
      bundle: name,
      requestedBy: 'alice',
    });
    assert.equal((await settled(h)).status, 'Failed');
    const installed = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'lava-server'], { encoding: 'utf8' });
    assert.ok((await failureOf(h)).message.includes(`installed lava-server ${installed} is newer than the bundle's 2022.11+10.0`));
    assert.ok(serviceRunning('lava-scheduler'), 'nothing was stopped');
  } finally {
    store(`rm -rf ${base.slice(0, base.lastIndexOf('/'))}/${name}`);
  }
});

test('a manifest edited on the store after it was signed (versions, row counts, a checksum) is refused before any change', async () => {
  const name = variant('signed', 3800, 'pass');
  const bundle = `${base.slice(0, base.lastIndexOf('/'))}/${name}`;
  store(`cp -p ${bundle}/manifest.json ${bundle}.manifest.signed`);
  const jobs = sql('select count(*) from lava_scheduler_app_testjob');
  const edits: Record<string, string> = {
    versions: "m['versions']['lava-server'] = '2099.01+12.0'",
    counts: "m['rows']['auth_user'] += 1",
    // What an attacker wants: a configuration.tar of their own, with the manifest's checksum to match.
    checksum: `open(os.path.join(b, 'configuration.tar'), 'ab').write(b'planted')
data = open(os.path.join(b, 'configuration.tar'), 'rb').read()
m['files']['configuration.tar'] = {'size': len(data), 'sha256': hashlib.sha256(data).hexdigest()}
m['plaintext']['configuration.tar'] = m['files']['configuration.tar']['sha256']`,
  };
  try {
    for (const [what, edit] of Object.entries(edits)) {
      store(`python3 - ${bundle} <<'PY'
import hashlib, json, os, sys
b = sys.argv[1]; m = json.load(open(os.path.join(b, 'manifest.json')))
${edit}
json.dump(m, open(os.path.join(b, 'manifest.json'), 'w'), indent=2)
PY`);
      const h = await env.start('lavaMasterRestore', uniqueId(`restore-tampered-${what}`), {
        master: 'lava-master',
        store: 'backup-store',
        bundle: name,
        requestedBy: 'alice',
      });
      assert.equal((await settled(h)).status, 'Failed', what);
      assert.match((await failureOf(h)).message, /manifest\.json: the signature does not verify with any configured key .*; nothing was changed/, what);
      assert.deepEqual(
        (await status(h)).steps.map((s) => s.name).filter((n) => !n.startsWith('cleanup:')),
        ['find the bundle and check its signature'],
        `${what}: refused at the first step, before anything else ran`,
      );
      assert.ok(serviceRunning('lava-scheduler') && serviceRunning('lava-server-gunicorn'), `${what}: nothing was stopped`);
      assert.equal(sql('select count(*) from lava_scheduler_app_testjob'), jobs, `${what}: the database is untouched`);
      store(`cp -p ${bundle}.manifest.signed ${bundle}/manifest.json`);
    }
  } finally {
    store(`rm -rf ${bundle} ${bundle}.manifest.signed`);
  }
});

test('a plain-SQL dump carrying \\! is never run by psql: the bundle is refused in preflight', async () => {
  const marker = '/tmp/runbooks-psql-meta-command-ran';
  rmSync(marker, { force: true });
  // The dump as plain SQL (what bundles held before), plus a psql meta-command: `psql -f` would run it as postgres.
  const name = variant(
    'plainsql',
    3900,
    `data = subprocess.run(['pg_restore', '-f', '-', os.path.join(b, 'lava-server.dump')], check=True, capture_output=True).stdout
open(os.path.join(b, 'lava-server.sql'), 'wb').write(data + b'\\n\\\\! touch ${marker}\\n')
os.remove(os.path.join(b, 'lava-server.dump'))
del m['files']['lava-server.dump']; m['plaintext'].pop('lava-server.dump', None); m.pop('dumpFormat', None)
m['files']['lava-server.sql'] = {}`,
  );
  try {
    assert.match(store(`tail -n 1 ${base.slice(0, base.lastIndexOf('/'))}/${name}/lava-server.sql`), /^\\! touch /);
    const h = await env.start('lavaMasterRestore', uniqueId('restore-plain-sql'), {
      master: 'lava-master',
      store: 'backup-store',
      bundle: name,
      requestedBy: 'alice',
    });
    assert.equal((await settled(h)).status, 'Failed');
    assert.match((await failureOf(h)).message, /plain-SQL dump \(lava-server\.sql.*meta-commands .*refused/);
    assert.ok(!existsSync(marker), 'the meta-command never ran');
    assert.ok(serviceRunning('lava-scheduler') && serviceRunning('lava-server-gunicorn'), 'nothing was stopped');
  } finally {
    store(`rm -rf ${base.slice(0, base.lastIndexOf('/'))}/${name}`);
  }
});

test('the database replacement waits for a session that is closing, and refuses one that stays without dropping anything', async () => {
  // The pre-restore dump's backend can outlive its client by a moment: the replacement used to refuse on it
  // ("1 open sessions"), parking a restore started right after another. A scratch database, not LAVA's.
  const dir = '/var/tmp/runbooks-restore/drain-test';
  const port = String(suite.lab.pgPort);
  // The step's own command (what a run on this build sends), run over the suite's ssh as the step would with sudo.
  const step = replaceDatabase('lava-master', dir, { name: 'rb_drain', user: 'lavaserver', host: '127.0.0.1', port: suite.lab.pgPort }, ['drained']);
  const replace = (): string => master(`sudo -n rm -f ${dir}/database-restored; sudo -n ${quoteArgv(step.argv)} 2>&1; echo "rc=$?"`);
  const sessions = (): string => sql("select count(*) from pg_stat_activity where datname = 'rb_drain'", 'postgres');
  const holdSession = (seconds: number): ChildProcess =>
    spawn('psql', ['-X', '-q', '-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-d', 'rb_drain', '-c', `select pg_sleep(${seconds})`], { stdio: 'ignore' });
  sql('drop database if exists rb_drain', 'postgres');
  sql('create database rb_drain owner lavaserver', 'postgres');
  sql('create table drained (n int); insert into drained values (1), (2)', 'rb_drain');
  master(
    `sudo -n sh -c 'rm -rf ${dir} && mkdir -p ${dir} && chmod 0700 ${dir} && runuser -u postgres -- pg_dump -Fc -p ${port} rb_drain > ${dir}/lava-server.dump'`,
  );
  let held: ChildProcess | undefined;
  try {
    held = holdSession(3);
    await waitFor('the closing session', async () => sessions() === '1');
    const waited = replace();
    assert.match(waited, /waited \d+\.\d s for the sessions on rb_drain to close/, waited);
    assert.match(waited, /^drained\|2$/m);
    assert.match(waited, /rc=0$/m);
    assert.equal(sql('select count(*) from drained', 'rb_drain'), '2');

    sql('insert into drained values (3)', 'rb_drain');
    held = holdSession(120);
    await waitFor('the staying session', async () => sessions() === '1');
    const refused = replace();
    assert.match(refused, /1 open sessions on rb_drain after 15 s: stop every LAVA service first/, refused);
    assert.match(refused, /rc=3$/m);
    assert.equal(sql('select count(*) from drained', 'rb_drain'), '3', 'the database was not dropped');
  } finally {
    held?.kill();
    sql("select pg_terminate_backend(pid) from pg_stat_activity where datname = 'rb_drain'", 'postgres');
    await waitFor('no session on rb_drain', async () => sessions() === '0');
    sql('drop database if exists rb_drain', 'postgres');
    master(`sudo -n rm -rf ${dir}`);
  }
});

test('an unapplied migration parks the run after the database restore; it cannot be skipped', async () => {
  // As if the database were older than the code: one lava_scheduler_app row of django_migrations gone.
  const name = variant(
    'nomig',
    7200,
    `redump("delete from django_migrations where id = (select max(id) from django_migrations where app = 'lava_scheduler_app')")`,
  );
  try {
    const h = await env.start('lavaMasterRestore', uniqueId('restore-nomig'), {
      master: 'lava-master',
      store: 'backup-store',
      bundle: name,
      requestedBy: 'alice',
    });
    await approve(h, ['maintenance-window', 'replace-database']);
    const v = await settled(h);
    assert.equal(v.status, 'Parked', v.lastError);
    assert.equal(v.parked?.step, 'check migrations (never migrate)');
    assert.match(v.parked!.error, /1 migration\(s\) not applied \(lava_scheduler_app\.\d{4}_\w+\).*never run migrate/);
    const why = await refusedUpdate(h.executeUpdate('decide', { args: [{ decision: 'skip', operator: 'bob', reason: 'try' }] }));
    assert.match(why, /cannot be skipped/);
    const ran = v.steps.map((s) => s.name);
    assert.ok(ran.includes('replace the database'));
    assert.ok(!ran.includes('put every device into maintenance'), `nothing after the check ran: ${ran.join(' | ')}`);
    assert.equal(sql('select count(*) from lava_scheduler_app_device where health = 4'), '0', 'no device was put into maintenance');
    await h.executeUpdate('decide', { args: [{ decision: 'abort', operator: 'bob', reason: 'wrong bundle' }] });
    assert.equal((await failureOf(h)).type, 'Aborted');
    await saveHistory(h, 'lavaMasterRestore-migration-parked');
    assert.ok(!serviceRunning('lava-scheduler'), 'services stay stopped for a human to look at');
  } finally {
    store(`rm -rf ${base.slice(0, base.lastIndexOf('/'))}/${name}`);
  }
});

test('full cycle: damage the master, restore it, and it is the backup again', async () => {
  assert.ok(before_);
  // Damage: a job that was not in the backup, device dictionaries deleted, the database dropped.
  sql(`DO $$ DECLARE cols text; BEGIN
    SELECT string_agg(quote_ident(column_name), ',') INTO cols FROM information_schema.columns WHERE table_name = 'lava_scheduler_app_testjob' AND column_name <> 'id';
    EXECUTE format('INSERT INTO lava_scheduler_app_testjob (%s) SELECT %s FROM lava_scheduler_app_testjob ORDER BY id LIMIT 1', cols, cols); END $$`);
  assert.notEqual(sql('select count(*) from lava_scheduler_app_testjob'), String(before_.jobs.split('\n').length));
  master(`sudo -n sh -c 'rm -f ${DICTS}/*'`);
  sql('drop database lavaserver with (force)', 'postgres');

  const h = await env.start('lavaMasterRestore', uniqueId('restore-full'), {
    master: 'lava-master',
    store: 'backup-store',
    bundle: base.split('/').pop(),
    requestedBy: 'alice',
  });
  await approve(h, ['maintenance-window', 'replace-database', 'workers']);
  // The master stays invisible until its workers are online and its devices passed a health check: the run
  // parks on the health checks with the UI still closed (no reopen gate yet), the worker already Online.
  const parked = await settled(h);
  assert.equal(parked.status, 'Parked', `${parked.status} ${parked.openGate?.name ?? ''}`);
  assert.equal(parked.parked?.step, 'check the health checks have passed');
  assert.match(parked.parked?.error ?? '', /no passed health check yet: .*qemu01 \(Maintenance\).*devices update --health UNKNOWN <hostname>/);
  assert.match(master('sudo -n lava-server manage workers details lava-worker-1'), /^state\s*: Online$/m, 'the worker is back before the reopen');
  const events = ['worker online', 'parked on the health checks'];
  // Stand-in for the health checks (the lab's qemu devices have no image to boot): the devices' health as a
  // passed health check leaves it, then the operator's retry.
  for (const d of ['qemu01', 'qemu02']) master(`sudo -n lava-server manage devices update --health GOOD ${d}`);
  await h.executeUpdate('decide', { args: [{ decision: 'retry', operator: 'bob', reason: 'test: health checks passed' }] });
  const atReopen = await waitFor('the reopen gate', async () => (await status(h)).openGate?.name === 'reopen' && (await status(h)), 120_000);
  events.push('reopen gate');
  assert.ok(
    atReopen.openGate?.plan.some((l) => /^workers: .*online lava-worker-1/.test(l)),
    atReopen.openGate?.plan.join('\n'),
  );
  assert.ok(
    atReopen.openGate?.plan.some((l) => /^devices: qemu01 Good, qemu02 Good/.test(l)),
    atReopen.openGate?.plan.join('\n'),
  );
  assert.deepEqual(events, ['worker online', 'parked on the health checks', 'reopen gate']);
  await approve(h, ['reopen']);
  const v = await settled(h);
  assert.equal(v.status, 'Completed', `${v.parked?.step}: ${v.parked?.error}`);
  const out = ((await h.result()) as { output: { failedJobs: string[]; devices: { hostname: string; health: string }[]; preRestoreDump: string } }).output;
  await saveHistory(h, 'lavaMasterRestore-full-cycle');

  const now = snapshot();
  assert.equal(now.devices, before_.devices, "devices are the backup's");
  assert.equal(now.workers, before_.workers, "workers are the backup's");
  assert.equal(now.jobs, before_.jobs, "jobs are the backup's (the new one is gone)");
  assert.equal(now.dictionaries, before_.dictionaries, 'device dictionaries are back, byte for byte');
  assert.deepEqual(out.failedJobs, [String(runningJob)]);
  assert.equal(sql(`select state || ',' || health from lava_scheduler_app_testjob where id = ${runningJob}`), '5,2', 'the running job is Finished/Incomplete');
  assert.ok(out.devices.length >= 2 && out.devices.every((d) => d.health === 'Maintenance'), JSON.stringify(out.devices));
  assert.equal(master("sudo -n lava-server manage showmigrations --plan | grep -c '\\[ \\]' || true").trim(), '0');
  for (const s of ['lava-scheduler', 'lava-publisher', 'lava-worker', 'lava-server-gunicorn']) assert.ok(serviceRunning(s), `${s} runs`);
  assert.match(store(`head -c 200 ${out.preRestoreDump}`), /did not exist before the restore/, 'the (missing) database was recorded before the restore');
  assert.equal(master('ls /var/tmp/runbooks-restore 2>/dev/null | wc -l').trim(), '0', 'no dump left on the master');
});

test('kill -9 of the worker inside the database replacement and again around the configuration restore: nothing runs twice', async () => {
  // The production worker process, so that SIGKILL is a real crash; this file's worker steps aside.
  await suite.stopWorker();
  const processes: ChildProcess[] = [];
  const workerProcess = (): ChildProcess => {
    const w = spawn(process.execPath, ['build/workers/main.js'], {
      env: { ...process.env, RUNBOOK_METRICS_PORT: '0', RUNBOOK_LOG_LEVEL: 'WARN' },
      stdio: 'ignore',
    });
    processes.push(w);
    return w;
  };
  const crash = async (w: ChildProcess): Promise<void> => {
    w.kill('SIGKILL');
    if (w.exitCode === null && w.signalCode === null) await new Promise((r) => w.once('exit', r));
  };
  try {
    let w = workerProcess();
    const h = await env.start('lavaMasterRestore', uniqueId('restore-crash'), {
      master: 'lava-master',
      store: 'backup-store',
      bundle: base.split('/').pop(),
      requestedBy: 'alice',
    });
    await approve(h, ['maintenance-window', 'replace-database']);
    // Crash points: inside the one-shot database replacement, then anywhere from maintenance to the
    // configuration restore (these steps take a second or two each, so a poll reliably lands in them).
    const points = [
      ['replace the database'],
      ['put every device into maintenance', 'prove no device is Good, Looping or Unknown', 'restore the configuration', 'reconcile the database role password'],
    ];
    for (const names of points) {
      await waitFor(`one of "${names.join('", "')}" to run`, async () => names.includes((await status(h)).currentStep ?? ''), 120_000);
      await crash(w);
      w = workerProcess();
    }
    await approve(h, ['workers']);
    await throughHealthChecks(h);
    await approve(h, ['reopen']);
    const v = await settled(h);
    assert.equal(v.status, 'Completed', `${v.parked?.step}: ${v.parked?.error}`);
    // The host's audit log has one line per execution, keyed by run key: each key must appear once.
    const perKey = master(
      `awk -F'\\t' -v w='${h.workflowId}.' 'index($2, w) == 1 {print $2}' ~/.runbooks/audit.log | sort | uniq -c | awk '{print $1}' | sort -u`,
    ).trim();
    assert.equal(perKey, '1', 'no command of the run was executed twice on the master');
    // The run's one one-shot command is the database replacement: executed once, whatever the crashes.
    const oneShot = master(`awk -F'\\t' -v w='${h.workflowId}.' 'index($2, w) == 1 && $3 == "once" {print $2}' ~/.runbooks/audit.log`).trim().split('\n');
    assert.equal(oneShot.length, 1, `one one-shot execution: ${oneShot.join(', ')}`);
    const attempts = (await h.fetchHistory())
      .events!.filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.ok(
      attempts.some((a) => (a ?? 1) > 1),
      'an activity was attempted again after a crash',
    );
    assert.equal(sql('select count(*) from lava_scheduler_app_testjob'), String(before_!.jobs.split('\n').length));
  } finally {
    for (const p of processes) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await suite.replaceWorker();
  }
});

test('lavaWorkerRestore puts a clobbered token back (0600) and the worker is Online again', async () => {
  const token = '/var/lib/lava/dispatcher/worker/token';
  const good = readFileSync(token, 'utf8');
  master(`sudo -n sh -c 'echo not-the-token > ${token}'`);
  const setup = Object.fromEntries(Object.keys(WORKER_SETUP).map((f) => [f, master(`sudo -n cat ${f}`)]));
  master(`sudo -n rm -f ${Object.keys(WORKER_SETUP).join(' ')}`);
  // The full cycle's health checks left the devices Good: a worker is restored while they are in maintenance.
  master('sudo -n lava-server manage maintenance --force');
  const h = await env.start('lavaWorkerRestore', uniqueId('worker-restore'), {
    worker: 'lava-master',
    master: 'lava-master',
    store: 'backup-store',
    bundle: 'latest',
    requestedBy: 'alice',
  });
  await approve(h, ['replace-worker-config']);
  const v = await settled(h);
  assert.equal(v.status, 'Completed', `${v.parked?.step}: ${v.parked?.error}`);
  await saveHistory(h, 'lavaWorkerRestore');
  assert.equal(readFileSync(token, 'utf8'), good);
  for (const [f, text] of Object.entries(setup)) assert.equal(master(`sudo -n cat ${f}`), text, `${f} is back`);
  assert.equal(master(`sudo -n stat -c %a ${token}`).trim(), '600');
  assert.match(master('sudo -n lava-server manage workers details lava-worker-1'), /^state\s*: Online$/m);
  assert.ok(!(await historyText(h)).includes(good.trim()), 'the token is not in history');
});
