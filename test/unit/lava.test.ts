// The decisions of the LAVA runbooks as table tests, rows from LAVA's admin-backups page (seed 000) and
// from what the lab's lava-server 2023.01 prints. No lab, no Temporal server: pure functions only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bundleStamp, SEALED_BUNDLE } from '../../workflows/lava/backup-store.js';
import {
  baseSystemProblem,
  databaseProblem,
  devicesInService,
  dispatcherVersionProblem,
  fetchedProblem,
  findings,
  healthOf,
  installedOf,
  jobsOf,
  masterBundleProblem,
  masterVersionProblem,
  migrationProblem,
  pendingMigrations,
  presence,
  rowCountsOf,
  rowsProblem,
  storeSpaceProblem,
  tabPairs,
  workerBundleProblem,
  workerFilesProblem,
  companionVersions,
  queuedStatesToFail,
  queuedToFail,
  versionsOf,
  type Checked,
  type MasterManifest,
} from '../../workflows/lava/checks.js';
import { replaceDatabase } from '../../workflows/lava/restore-commands.js';
import { dumpDatabase } from '../../workflows/lava/commands.js';

const manifest = (over: Partial<MasterManifest> = {}): MasterManifest => ({
  versions: { 'lava-server': '2023.01-1' },
  base: ['debian_version 12.5', 'deb http://deb.debian.org/debian bookworm main'],
  database: { name: 'lavaserver', user: 'lavaserver', host: 'localhost', port: 5432 },
  rows: { auth_user: 3 },
  files: {
    'lava-server.dump': { size: 10, sha256: 'a'.repeat(64) },
    'configuration.tar': { size: 20, sha256: 'b'.repeat(64) },
    'job-output.tar': { size: 30, sha256: 'c'.repeat(64) },
  },
  createdAt: '2026-11-22T02:00:00.000Z',
  ...over,
});

test('"DB and package versions must match": a newer or an older installed lava-server is refused, naming both versions', () => {
  const rows: [string, string, RegExp | undefined][] = [
    ['equal 2023.01-1', '2023.01-1', undefined],
    ['older 2022.11-1', '2023.01-1', /the bundle records lava-server 2023\.01-1, newer than the installed 2022\.11-1 on lava-master/],
    ['newer 2023.06-1', '2023.01-1', /newer than the bundle's 2023\.01-1: install 2023\.01-1 from the bundle's packages\.tar first/],
    ['missing -', '2023.01-1', /not installed on lava-master: install exactly 2023\.01-1/],
  ];
  for (const [answer, want, refused] of rows) {
    const why = masterVersionProblem('lava-master', installedOf(answer), want);
    if (refused) assert.match(why ?? '', refused, answer);
    else assert.equal(why, undefined, answer);
  }
});

test('a worker restore wants exactly the lava-dispatcher the bundle recorded', () => {
  assert.equal(dispatcherVersionProblem('w1', installedOf('equal 2023.01'), '2023.01'), undefined);
  for (const a of ['older 2022.11', 'newer 2023.06', 'missing -']) {
    assert.match(dispatcherVersionProblem('w1', installedOf(a), '2023.01') ?? '', /lava-dispatcher on w1 is .*, the bundle recorded 2023\.01/, a);
  }
});

test('base system: the same Debian release, backports on both sides or on neither', () => {
  const here = (v: string) => [`debian_version ${v}`];
  assert.equal(baseSystemProblem('m', here('12.7'), manifest(), '2023.01-1'), undefined, 'a point release is the same base');
  assert.match(baseSystemProblem('m', here('11.9'), manifest(), '2023.01-1') ?? '', /m runs Debian 11, the bundle was taken on Debian 12/);
  assert.match(baseSystemProblem('m', here('12.7'), manifest(), '2023.01-1~bpo12+1') ?? '', /backports differ/);
  assert.equal(baseSystemProblem('m', here('12.7'), manifest({ versions: { 'lava-server': '2023.01-1~bpo12+1' } }), '2023.01-1~bpo12+1'), undefined);
});

test('"never migrate during a restore": any migration not applied stops the run', () => {
  const plan = ['[X]  lava_scheduler_app.0001_initial', '[ ]  lava_scheduler_app.0057_remove_testjob_admin_notifications', '[X]  auth.0012_alter_user'];
  assert.deepEqual(pendingMigrations(plan), ['lava_scheduler_app.0057_remove_testjob_admin_notifications']);
  assert.match(migrationProblem(pendingMigrations(plan)) ?? '', /^1 migration\(s\) not applied .*never run migrate or makemigrations/);
  assert.equal(migrationProblem(pendingMigrations(plan.filter((l) => l.startsWith('[X]')))), undefined);
});

test('the manifest: a master bundle needs its dump, configuration and job output (plain or .age)', () => {
  assert.equal(masterBundleProblem(manifest()), undefined);
  const files = manifest().files;
  const age = Object.fromEntries(Object.entries(files).map(([k, v]) => [`${k}.age`, v]));
  assert.equal(masterBundleProblem(manifest({ files: age })), undefined);
  const rest = Object.fromEntries(Object.entries(files).filter(([k]) => k !== 'job-output.tar'));
  assert.match(masterBundleProblem(manifest({ files: rest })) ?? '', /lacks one of lava-server\.dump, configuration\.tar, job-output\.tar/);
  // A bundle from before custom-format dumps: never handed to psql.
  const plain = Object.fromEntries(Object.entries(files).map(([k, v]) => [k.replace('lava-server.dump', 'lava-server.sql'), v]));
  assert.match(masterBundleProblem(manifest({ files: plain })) ?? '', /plain-SQL dump .*meta-commands .*refused/);
  assert.match(
    workerBundleProblem({ versions: {}, files: {}, paths: { present: ['etc/lava-dispatcher/lava-worker'] } }) ?? '',
    /no var\/lib\/lava\/dispatcher\/worker\/token/,
  );
  assert.equal(
    workerBundleProblem({ versions: {}, files: {}, paths: { present: ['etc/lava-dispatcher/lava-worker', 'var/lib/lava/dispatcher/worker/token'] } }),
    undefined,
  );
});

test('fetched files are checked against the plaintext sha256 when the bundle is encrypted', () => {
  const m = manifest({ plaintext: { 'lava-server.dump': 'd'.repeat(64), 'configuration.tar': 'b'.repeat(64), 'job-output.tar': 'c'.repeat(64) } });
  const sums = [`${'d'.repeat(64)}  lava-server.dump`, `${'b'.repeat(64)}  configuration.tar`, `${'c'.repeat(64)}  job-output.tar`];
  assert.equal(fetchedProblem(sums, m), undefined);
  assert.match(fetchedProblem(sums, manifest()) ?? '', /differ from the bundle's: lava-server\.dump$/);
});

test('only a local PostgreSQL with plain names can be replaced', () => {
  const db = { name: 'lavaserver', user: 'lavaserver', host: 'localhost', port: 5432 };
  assert.equal(databaseProblem('m', db), undefined);
  assert.match(databaseProblem('m', { ...db, host: 'db.example.org' }) ?? '', /on db\.example\.org, not on m/);
  assert.match(databaseProblem('m', { ...db, name: 'lava"; drop' }) ?? '', /unexpected database name/);
});

test('row counts after a restore must be the manifest’s, table by table', () => {
  const rows = rowCountsOf('encoding UTF8 collate C.UTF-8 ctype C.UTF-8\nauth_user|3\nlava_scheduler_app_device|2\n');
  assert.deepEqual(rows, { auth_user: 3, lava_scheduler_app_device: 2 });
  assert.equal(rowsProblem(rows, { auth_user: 3, lava_scheduler_app_device: 2 }), undefined);
  assert.match(rowsProblem(rows, { auth_user: 4 }) ?? '', /auth_user 3 ≠ 4/);
});

test('a backup is refused before anything is written when the store lacks twice the data', () => {
  assert.equal(storeSpaceProblem('s', 4000, { dbBytes: 1000, mediaBytes: 1000 }), undefined);
  assert.match(storeSpaceProblem('s', 3999, { dbBytes: 1000, mediaBytes: 1000 }) ?? '', /s has 3999 bytes free, the backup needs about 4000/);
  assert.match(workerFilesProblem('w', []) ?? '', /w has no \/etc\/lava-dispatcher\/lava-worker and no \/var\/lib\/lava\/dispatcher\/worker\/token/);
});

test('"one backup fully tested and all backups checked that the equivalent files exist in each"', () => {
  const checked: Checked = { problems: ['job-output.tar is missing'], files: 4, manifest: { rows: { auth_user: 3, lava_scheduler_app_testjob: 5 } } };
  const out = findings(
    checked,
    { server: '15', restored: true, rows: { auth_user: 3, lava_scheduler_app_testjob: 4 } },
    {
      compared: 3,
      differ: 22,
      diffs: [
        { bundle: '20261121T020000Z', missing: ['job-output.tar'], extra: [] },
        ...Array.from({ length: 19 }, () => ({ bundle: 'x', missing: [], extra: ['y'] })),
      ],
    },
  );
  assert.equal(out[0], 'job-output.tar is missing');
  assert.equal(out[1], 'lava_scheduler_app_testjob: 4 rows restored, the manifest says 5');
  assert.equal(out[2], 'bundle 20261121T020000Z lacks job-output.tar (compared with the tested bundle)');
  assert.equal(out.at(-1), '… and 2 more bundles with a different set of files');
  const failed = findings(
    { ...checked, problems: [] },
    { server: '15', restored: false, error: 'ERROR: relation exists' },
    { compared: 0, differ: 0, diffs: [] },
  );
  assert.deepEqual(failed, ['lava-server.dump does not restore into a scratch database: ERROR: relation exists']);
  assert.deepEqual(findings({ ...checked, problems: [] }, undefined, { compared: 0, differ: 0, diffs: [] }), [], 'a worker bundle has nothing to restore');
});

test('what the hosts print: dpkg-query pairs, present paths, device health (CRLF), job lines', () => {
  assert.deepEqual(tabPairs('lava-server\t2023.01-1\npostgresql-15\t15.5-0+deb12u1\n'), { 'lava-server': '2023.01-1', 'postgresql-15': '15.5-0+deb12u1' });
  assert.deepEqual(presence('present etc/lava-server\nabsent etc/ser2net.conf\n'), { present: ['etc/lava-server'], absent: ['etc/ser2net.conf'] });
  const devices = healthOf(
    'hostname,worker,type,health,state\r\nqemu01,lava-master,qemu,Good,Idle\r\nqemu02,lava-master,qemu,Maintenance,Idle\r\nold,,qemu,Retired,Idle\r\n',
  );
  assert.deepEqual(devicesInService(devices), [{ hostname: 'qemu01', health: 'Good' }]);
  assert.deepEqual(jobsOf(['failed 12', 'queued 13 SUBMITTED']), { failed: ['12'], queued: ['13 SUBMITTED'] });
});

test('bundle names sort by time and never match a partial or incomplete one', () => {
  assert.equal(bundleStamp(new Date('2026-11-22T02:00:00.123Z')), '20261122T020000Z');
  for (const [name, sealed] of [
    ['20261122T020000Z', true],
    ['20261122T020000Z-pre-upgrade', true],
    ['20261122T020000Z.partial', false],
    ['20261122T020000Z.incomplete', false],
  ] as const) {
    assert.equal(SEALED_BUNDLE.test(name), sealed, name);
  }
});

test('host scripts arrive as their file text, values only as positional arguments', () => {
  const c = replaceDatabase('lava-master', '/var/tmp/runbooks-restore/run-1', { name: 'lavaserver', user: 'lavaserver', host: 'localhost', port: 5432 }, [
    'auth_user',
  ]);
  assert.equal(c.argv[0], 'sh');
  assert.match(c.argv[2] ?? '', /^#!\/bin\/sh\n# Replaces the LAVA database/);
  assert.deepEqual(c.argv.slice(3), ['replace-db', '/var/tmp/runbooks-restore/run-1', '5432', 'lavaserver', 'lavaserver', 'auth_user']);
  const db = { name: 'lavaserver', user: 'lavaserver', host: 'localhost', port: 5432 };
  for (const compression of ['default', 'none'] as const) {
    const d = dumpDatabase('lava-master', db, compression);
    const at = d.argv.indexOf('python3') + 1;
    assert.match(d.argv[at + 1] ?? '', /^#!\/usr\/bin\/env python3\n# The database dump and its row counts/);
    assert.deepEqual(d.argv.slice(at + 2, at + 6), ['localhost', '5432', 'lavaserver', compression]);
  }
  assert.equal(dumpDatabase('lava-master', db).argv.includes('default'), true, "pg_dump's own compression unless asked");
});

test('python3-django and postgresql are shown bundle against installed, a difference marked (the source: they affect a restore)', () => {
  const installed = versionsOf(['lava-server\t2023.01-2', 'python3-django\t3:3.2.25-0+deb12u7', 'postgresql\t15+248', 'postgresql-15\t15.10-0+deb12u1']);
  const bundle = {
    'lava-server': '2023.01-2',
    'python3-django': '3:3.2.19-1+deb12u1',
    postgresql: '15+248',
    'postgresql-15': '15.10-0+deb12u1',
    'postgresql-common': '248',
  };
  assert.deepEqual(companionVersions(installed, bundle), [
    'postgresql: bundle 15+248, installed 15+248',
    'postgresql-15: bundle 15.10-0+deb12u1, installed 15.10-0+deb12u1',
    'postgresql-common: bundle 248, installed not installed (DIFFERS)',
    'python3-django: bundle 3:3.2.19-1+deb12u1, installed 3:3.2.25-0+deb12u7 (DIFFERS)',
  ]);
  assert.deepEqual(companionVersions({ 'python3-django': '3:3.2.25' }, {}), ['python3-django: bundle not recorded, installed 3:3.2.25 (DIFFERS)']);
});

test('queued jobs before the scheduler starts: SCHEDULING/SCHEDULED always failed, SUBMITTED on cancel (the default) only', () => {
  const queued = ['41 SUBMITTED', '42 SCHEDULING', '43 SCHEDULED'];
  assert.deepEqual(queuedToFail(queued, queuedStatesToFail('cancel')), queued);
  assert.deepEqual(queuedToFail(queued, queuedStatesToFail('hold')), ['42 SCHEDULING', '43 SCHEDULED']);
  assert.deepEqual(queuedToFail([], queuedStatesToFail('cancel')), []);
});
