// LAVA backups against the REAL LAVA master of the test lab (lava-server 2023.01 on PostgreSQL):
// - lavaMasterBackup: the bundle is private, its manifest checks out file by file, it carries the installed
//   lava-server .deb, its dump restores into a scratch database with the same row counts, and no DB
//   password reaches history;
// - lavaBackupVerify restores it on a scratch PostgreSQL and passes it, and names a flipped byte, a missing
//   file and a bundle whose file set differs;
// - faults: a pg_dump that fails leaves an *.incomplete bundle and touches no older one; a store without
//   room stops the backup before anything is written;
// - lavaWorkerBackup keeps the worker's config and token (0600), never putting the token in history.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { LabOptions } from '../scripts/lab/layout.js';
import { failureOf, historyText, scratchDir, type TestEnv, uniqueId } from './harness.js';
import { saveHistory } from './history-files.js';
import { lavaSuite, settled } from './lava-suite.js';
import { bundleStamp } from '../workflows/lava/backup-store.js';

const suite = lavaSuite();
const { store, sql: superuser } = suite;
let env: TestEnv;
let lab: LabOptions;
before(async () => {
  await suite.ready;
  ({ env, lab } = suite);
});
/** The bundle the first test makes; later tests verify it, copy it and corrupt the copies. */
let bundle = '';

interface Manifest {
  location: string;
  files: Record<string, { size: number; sha256: string }>;
  rows: Record<string, number>;
  versions: Record<string, string>;
  configuration: { present: string[]; absent: string[] };
}

test('a backup bundle is self-contained, private, verifiable and restorable', async () => {
  {
    const h = await env.start('lavaMasterBackup', uniqueId('lava-backup'), {
      master: 'lava-master',
      store: 'backup-store',
      requestedBy: 'alice',
      label: 'test',
    });
    const end = await settled(h);
    assert.equal(end.status, 'Completed', `parked: ${end.parked?.step}: ${end.parked?.error}`);
    const res = (await h.result()) as { status: string; output: { bundle: string; rows: Record<string, number> } };
    assert.equal(res.status, 'Completed');
    bundle = res.output.bundle;
    await saveHistory(h, 'lavaMasterBackup');
    assert.match(bundle, /^backups\/lava\/lava-master\/\d{8}T\d{6}Z-test$/);

    // Private: the bundle holds what a restore needs, including database content.
    assert.equal(store(`stat -c %a ${bundle}`).trim(), '700');
    assert.deepEqual([...new Set(store(`find ${bundle} -type f -exec stat -c %a {} +`).trim().split('\n'))], ['600']);
    assert.equal(store(`ls -d ${bundle}.partial 2>/dev/null | wc -l`).trim(), '0', 'no partial bundle left');

    // The manifest, checked independently with sha256sum on the store.
    const manifest = JSON.parse(store(`cat ${bundle}/manifest.json`)) as Manifest;
    assert.deepEqual(Object.keys(manifest.files).sort(), ['configuration.tar', 'job-output.tar', 'lava-server.dump', 'packages.tar', 'service-logs.tar']);
    assert.equal(store(`head -c 5 ${bundle}/lava-server.dump`), 'PGDMP', "PostgreSQL's custom format (pg_restore runs no meta-commands)");
    // The source's "service log files": LAVA's own logs are in the bundle.
    assert.match(store(`tar -tf ${bundle}/service-logs.tar`), /^var\/log\/lava-server\//m);
    // Signed by the worker (ssh-keygen -Y, namespace runbooks-backup), for this very place.
    assert.equal(manifest.location, bundle);
    const signer = `runbooks-worker namespaces="runbooks-backup" ${readFileSync(join(env.config.dataDir, 'keys', 'bundle-signing.pub'), 'utf8')}`;
    const allowed = join(scratchDir('allowed-signers'), 'allowed');
    writeFileSync(allowed, signer);
    const sigFile = join(scratchDir('manifest-sig'), 'manifest.json.sig');
    writeFileSync(sigFile, store(`cat ${bundle}/manifest.json.sig`));
    execFileSync('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'runbooks-worker', '-n', 'runbooks-backup', '-s', sigFile], {
      input: store(`cat ${bundle}/manifest.json`),
    });
    for (const [name, f] of Object.entries(manifest.files)) {
      assert.equal(store(`sha256sum < ${bundle}/${name} | cut -d' ' -f1`).trim(), f.sha256, name);
      assert.equal(Number(store(`stat -c %s ${bundle}/${name}`).trim()), f.size, name);
    }
    assert.ok(manifest.configuration.present.includes('etc/lava-server'));
    assert.ok(manifest.configuration.absent.includes('etc/ser2net.conf'), 'absent optional files are recorded, not errors');

    // The exact installed lava-server version, as a .deb a restore can install.
    const installed = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'lava-server'], { encoding: 'utf8' });
    assert.equal(manifest.versions['lava-server'], installed);
    const debs = store(`tar -tf ${bundle}/packages.tar`);
    assert.match(debs, new RegExp(`^lava-server_${installed.replace(':', '%3a').replace(/[.+]/g, '\\$&')}_all\\.deb$`, 'm'));
    assert.match(store(`tar -tf ${bundle}/job-output.tar | head -50`), /job-output\/\d{4}\/\d{2}\/\d{2}\/\d+\/output\.yaml/);

    // The dump restores into a scratch database (never the live one) with the same row counts.
    const scratch = `scratch_${Date.now()}`;
    const psql = `psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p ${lab.pgPort} -U postgres`;
    store(
      `createdb -h 127.0.0.1 -p ${lab.pgPort} -U postgres ${scratch} && pg_restore --exit-on-error -h 127.0.0.1 -p ${lab.pgPort} -U postgres -d ${scratch} ${bundle}/lava-server.dump`,
    );
    try {
      for (const [table, count] of Object.entries(manifest.rows)) {
        assert.equal(Number(store(`${psql} -At -d ${scratch} -c 'select count(*) from ${table}'`).trim()), count, table);
      }
      assert.ok(manifest.rows.lava_scheduler_app_testjob! >= 3, 'the seeded jobs are in the backup');
    } finally {
      store(`dropdb -h 127.0.0.1 -p ${lab.pgPort} -U postgres ${scratch}`);
    }

    // No secret from the master's settings in history.
    const settings = readFileSync('/etc/lava-server/settings.d/00-database.yaml', 'utf8');
    const password = /PASSWORD:\s*"?([^"\n]+)"?/.exec(settings)![1]!;
    assert.ok(password.length >= 8);
    assert.ok(!(await historyText(h)).includes(password), 'the DB password is not in history');
  }
});

interface VerifyOutput {
  bundle: string;
  files: number;
  restoredRows: Record<string, number>;
  scratchServer: string;
  bundlesCompared: number;
}

test('lavaBackupVerify restores the newest bundle on a scratch PostgreSQL and passes it', async () => {
  assert.ok(bundle, 'the backup test made a bundle');
  const manifest = JSON.parse(store(`cat ${bundle}/manifest.json`)) as Manifest;
  const databases = superuser('select count(*) from pg_database');
  // Issue 20: an older bundle copied under a later-sorting name must not become "latest" (nor, unsigned, count at all).
  const dir = bundle.slice(0, bundle.lastIndexOf('/'));
  const copy = `${dir}/${bundleStamp(new Date(Date.now() + 86_400_000))}-copy`;
  store(`cp -a ${bundle} ${copy}`);
  const h = await env.start('lavaBackupVerify', uniqueId('lava-verify'), { store: 'backup-store', requestedBy: 'alice' });
  const end = await settled(h).finally(() => store(`rm -rf ${copy}`));
  assert.equal(end.status, 'Completed', `${end.lastError}`);
  const out = ((await h.result()) as { output: VerifyOutput }).output;
  assert.equal(out.bundle, bundle, '"latest" is the bundle just made');
  assert.deepEqual(out.restoredRows, manifest.rows, "row counts after the restore are the manifest's");
  assert.equal(out.files, Object.keys(manifest.files).length);
  assert.match(out.scratchServer, /^\d+$/);
  // Never the live server: the lab's PostgreSQL has no new database, and no scratch cluster is left.
  assert.equal(superuser('select count(*) from pg_database'), databases);
  assert.equal(store('ls -d /tmp/runbooks-scratch-pg.* 2>/dev/null | wc -l').trim(), '0');
});

test('lavaBackupVerify names a flipped byte, a missing file and a bundle with a different file set', async () => {
  // Two copies with later stamps, so the original stays intact for the other tests.
  const dir = bundle.slice(0, bundle.lastIndexOf('/'));
  const stamp = (s: number): string => bundleStamp(new Date(Date.now() + s * 1000));
  const broken = `${dir}/${stamp(3600)}-broken`;
  store(`cp -a ${bundle} ${broken}`);
  suite.resign(broken);
  try {
    const size = Number(store(`stat -c %s ${broken}/configuration.tar`).trim());
    // Flip one bit of one byte in the middle of the file; the size stays the same.
    store(
      `python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(${Math.floor(size / 2)}); b=f.read(1); f.seek(${Math.floor(size / 2)}); f.write(bytes([b[0]^1])); f.close()' ${broken}/configuration.tar`,
    );
    store(`rm ${broken}/job-output.tar`);

    const bad = await env.start('lavaBackupVerify', uniqueId('lava-verify-bad'), { store: 'backup-store', bundle: broken, requestedBy: 'alice' });
    const end = await settled(bad);
    assert.equal(end.status, 'Failed', 'a corrupted bundle fails verification (it is not parked for a retry)');
    const { message } = await failureOf(bad);
    await saveHistory(bad, 'lavaBackupVerify-corrupt');
    assert.match(message, /configuration\.tar: sha256 \w+… differs from the manifest/);
    assert.match(message, /job-output\.tar is missing/);
    assert.doesNotMatch(message, /lava-server\.dump/, 'the intact dump is not blamed');

    // The intact bundle passes its own checks, but a sibling lacking a file is named.
    const good = await env.start('lavaBackupVerify', uniqueId('lava-verify-set'), { store: 'backup-store', bundle, requestedBy: 'alice' });
    assert.equal((await settled(good)).status, 'Failed');
    const set = await failureOf(good);
    assert.match(set.message, new RegExp(`bundle ${broken.slice(dir.length + 1)} lacks job-output\\.tar`));
    assert.doesNotMatch(set.message, /sha256/);
  } finally {
    store(`rm -rf ${broken}`);
  }
});

test('a dump that fails in the scratch restore is reported without the failing row (password hashes stay out of history)', async () => {
  // A real custom-format dump whose COPY of auth_user breaks a CHECK (its function changed after the row was
  // written): PostgreSQL's DETAIL and CONTEXT lines then quote the row, hash included.
  const secret = 'pbkdf2_sha256$260000$leaked-secret-hash';
  const dir = bundle.slice(0, bundle.lastIndexOf('/'));
  const leak = `${dir}/${bundleStamp(new Date(Date.now() + 5400 * 1000))}-leak`;
  const pg = `-h 127.0.0.1 -p ${lab.pgPort} -U postgres`;
  store(`cp -a ${bundle} ${leak}`);
  try {
    store(`dropdb --if-exists ${pg} leak_src && createdb ${pg} -O lavaserver leak_src && psql -X -q -v ON_ERROR_STOP=1 ${pg} -d leak_src <<'SQL'
set role lavaserver;
create function ok(text) returns boolean immutable language sql as $$ select true $$;
create table auth_user (id int, password text check (ok(password)));
insert into auth_user values (1, '${secret}');
create or replace function ok(text) returns boolean immutable language sql as $$ select $1 not like 'pbkdf2%' $$;
SQL
pg_dump -Fc ${pg} leak_src > ${leak}/lava-server.dump && dropdb ${pg} leak_src
python3 - ${leak} <<'PY'
import hashlib, json, os, sys
b = sys.argv[1]; m = json.load(open(os.path.join(b, 'manifest.json')))
data = open(os.path.join(b, 'lava-server.dump'), 'rb').read()
m['files']['lava-server.dump'] = {'size': len(data), 'sha256': hashlib.sha256(data).hexdigest()}
json.dump(m, open(os.path.join(b, 'manifest.json'), 'w'), indent=2, sort_keys=True)
PY`);
    suite.resign(leak);
    const h = await env.start('lavaBackupVerify', uniqueId('lava-verify-leak'), { store: 'backup-store', bundle: leak, requestedBy: 'alice' });
    assert.equal((await settled(h)).status, 'Failed');
    const { message } = await failureOf(h);
    assert.match(
      message,
      /lava-server\.dump does not restore into a scratch database: ERROR: +new row for relation "…" violates check constraint "…" \(COPY auth_user, line 1\)/,
    );
    assert.ok(!(await historyText(h)).includes('leaked-secret-hash'), 'the failing row is not in history');
  } finally {
    store(`rm -rf ${leak}; dropdb --if-exists ${pg} leak_src`);
  }
});

test('a pg_dump that fails leaves the bundle incomplete and older bundles untouched', async () => {
  const dir = bundle.slice(0, bundle.lastIndexOf('/'));
  store(`rm -rf ${dir}/*-fail.partial ${dir}/*-fail.incomplete`); // left by an earlier, interrupted run of this test
  const sealedBefore = store(`ls -1 ${dir} | grep -vE '\\.(partial|incomplete)$'`);
  const manifestBefore = store(`sha256sum ${bundle}/manifest.json ${bundle}/lava-server.dump`);
  // A real pg_dump failure: a table the LAVA role may not read (pg_dump: permission denied).
  superuser('create table runbooks_unreadable (x int); revoke all on runbooks_unreadable from public');
  try {
    const h = await env.start('lavaMasterBackup', uniqueId('lava-backup-fail'), {
      master: 'lava-master',
      store: 'backup-store',
      requestedBy: 'alice',
      label: 'fail',
    });
    const parked = await settled(h);
    assert.equal(parked.status, 'Parked');
    assert.equal(parked.parked?.step, 'dump the database');
    assert.match(parked.parked!.error, /permission denied/);
    assert.equal(store(`ls -d ${dir}/*-fail.partial | wc -l`).trim(), '1', 'the unsealed bundle is a .partial');
    await h.executeUpdate('decide', { args: [{ decision: 'abort', operator: 'bob', reason: 'pg_dump fails: fix grants first' }] });
    assert.equal((await failureOf(h)).type, 'Aborted');

    const incomplete = store(`ls -d ${dir}/*-fail.incomplete`).trim();
    assert.match(store(`cat ${incomplete}/INCOMPLETE`), /ended before the bundle was sealed/);
    assert.equal(store(`ls -d ${dir}/*-fail ${dir}/*-fail.partial 2>/dev/null | wc -l`).trim(), '0', 'never sealed, nothing left partial');
    assert.equal(store(`ls -1 ${dir} | grep -vE '\\.(partial|incomplete)$'`), sealedBefore, 'no sealed bundle added or pruned');
    assert.equal(store(`sha256sum ${bundle}/manifest.json ${bundle}/lava-server.dump`), manifestBefore, 'the older bundle is untouched');
    store(`rm -rf ${incomplete}`);
  } finally {
    superuser('drop table if exists runbooks_unreadable');
  }
});

test('a store without room stops the backup before anything is written', async () => {
  const dir = 'backups/lava/lava-master';
  // A 1 MiB file system over the bundle directory, in the store host's own mount namespace.
  store(`sudo -n mount -t tmpfs -o size=1m,mode=700,uid=$(id -u) runbooks-full ~/${dir}`);
  try {
    const h = await env.start('lavaMasterBackup', uniqueId('lava-backup-full'), {
      master: 'lava-master',
      store: 'backup-store',
      requestedBy: 'alice',
      label: 'full',
    });
    const parked = await settled(h);
    assert.equal(parked.status, 'Parked');
    assert.equal(parked.parked?.step, 'check free space on the store');
    assert.match(parked.parked!.error, /backup-store has \d+ bytes free, the backup needs about \d+/);
    await h.executeUpdate('decide', { args: [{ decision: 'abort', operator: 'bob', reason: 'store is full' }] });
    assert.equal((await failureOf(h)).type, 'Aborted');
    assert.equal(store(`ls -A ~/${dir} | wc -l`).trim(), '0', 'nothing was written');
  } finally {
    store(`sudo -n umount ~/${dir}`);
  }
});

test('lavaWorkerBackup keeps the worker config, its token (0600) and PDU scripts; verify passes it', async () => {
  const pdu = '/usr/local/bin/runbooks-test-pdu';
  execFileSync('sh', ['-c', `printf '#!/bin/sh\\necho "pdu $*"\\n' > ${pdu} && chmod 755 ${pdu}`]);
  try {
    const h = await env.start('lavaWorkerBackup', uniqueId('lava-worker-backup'), {
      worker: 'lava-worker',
      store: 'backup-store',
      pduScripts: [pdu, '/usr/local/bin/runbooks-no-such-pdu'],
      requestedBy: 'alice',
    });
    const end = await settled(h);
    assert.equal(end.status, 'Completed', `${end.parked?.step}: ${end.parked?.error}`);
    await saveHistory(h, 'lavaWorkerBackup');
    const out = ((await h.result()) as { output: { bundle: string; files: { present: string[]; absent: string[] }; versions: Record<string, string> } }).output;
    assert.match(out.bundle, /^backups\/lava-worker\/lava-worker\/\d{8}T\d{6}Z$/);
    assert.ok(out.files.absent.includes('usr/local/bin/runbooks-no-such-pdu'), 'a missing PDU script is recorded as absent');
    assert.ok(out.versions['lava-dispatcher']);
    assert.equal(store(`stat -c %a ${out.bundle}`).trim(), '700');
    const listing = store(`tar -tvf ${out.bundle}/worker.tar`);
    assert.match(listing, /^-rw------- \S+ +\d+ \S+ \S+ var\/lib\/lava\/dispatcher\/worker\/token$/m, 'the token keeps its 0600 mode');
    assert.match(listing, / etc\/lava-dispatcher\/lava-worker$/m);
    assert.match(listing, / usr\/local\/bin\/runbooks-test-pdu$/m);
    const token = readFileSync('/var/lib/lava/dispatcher/worker/token', 'utf8').trim();
    assert.ok(token.length >= 16);
    assert.ok(!(await historyText(h)).includes(token), 'the worker token is not in history');

    const v = await env.start('lavaBackupVerify', uniqueId('lava-verify-worker'), { store: 'backup-store', bundle: out.bundle, requestedBy: 'alice' });
    assert.equal((await settled(v)).status, 'Completed');
    const vo = ((await v.result()) as { output: VerifyOutput }).output;
    assert.equal(vo.restoredRows, undefined, 'a worker bundle has no database to restore');
  } finally {
    execFileSync('rm', ['-f', pdu]);
  }
});

test('encryption at rest: the store holds only age ciphertext; verify decrypts on the worker and restores', async () => {
  const keys = scratchDir('age');
  const identity = join(keys, 'identity.txt');
  execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
  const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
  // One worker on the task queue at a time, so the encrypting one is the one that runs the activities.
  await suite.replaceWorker({ backups: { ...suite.env.config.backups, ageRecipients: [recipient], ageIdentityFile: identity } });
  let encryptedBundle = '';
  try {
    const h = await env.start('lavaMasterBackup', uniqueId('lava-backup-age'), {
      master: 'lava-master',
      store: 'backup-store',
      requestedBy: 'alice',
      label: 'age',
    });
    const end = await settled(h);
    assert.equal(end.status, 'Completed', `${end.parked?.step}: ${end.parked?.error}`);
    const out = ((await h.result()) as { output: { bundle: string; encrypted: boolean } }).output;
    encryptedBundle = out.bundle;
    assert.equal(out.encrypted, true);
    const manifest = JSON.parse(store(`cat ${encryptedBundle}/manifest.json`)) as Manifest & { encryption: { tool: string; recipients: string[] } };
    assert.deepEqual(Object.keys(manifest.files).sort(), [
      'configuration.tar.age',
      'job-output.tar.age',
      'lava-server.dump.age',
      'packages.tar.age',
      'service-logs.tar.age',
    ]);
    assert.deepEqual(manifest.encryption, { tool: 'age', recipients: [recipient] });
    for (const f of Object.keys(manifest.files)) assert.equal(store(`head -c 21 ${encryptedBundle}/${f}`), 'age-encryption.org/v1', f);
    assert.equal(store(`grep -c PGDMP ${encryptedBundle}/lava-server.dump.age || true`).trim(), '0', 'no readable dump on the store');

    const v = await env.start('lavaBackupVerify', uniqueId('lava-verify-age'), { store: 'backup-store', bundle: encryptedBundle, requestedBy: 'alice' });
    const ve = await settled(v);
    assert.equal(ve.status, 'Completed', `${ve.lastError}`);
    assert.deepEqual(((await v.result()) as { output: VerifyOutput }).output.restoredRows, manifest.rows, 'decrypted, restored, same row counts');
  } finally {
    await suite.replaceWorker();
  }
  try {
    // A worker without the private key cannot restore-test it, and says which setting is missing.
    const v = await env.start('lavaBackupVerify', uniqueId('lava-verify-nokey'), { store: 'backup-store', bundle: encryptedBundle, requestedBy: 'alice' });
    assert.equal((await settled(v)).status, 'Failed');
    assert.match((await failureOf(v)).message, /no backups\.ageIdentityFile/);
  } finally {
    store(`rm -rf ${encryptedBundle}`);
  }
});

test('dumpCompression none: an uncompressed dump (the faster restore) that verify restores with the same row counts', async () => {
  const h = await env.start('lavaMasterBackup', uniqueId('lava-backup-z0'), {
    master: 'lava-master',
    store: 'backup-store',
    requestedBy: 'alice',
    label: 'z0',
    dumpCompression: 'none',
  });
  const end = await settled(h);
  assert.equal(end.status, 'Completed', `${end.parked?.step}: ${end.parked?.error}`);
  const z0 = ((await h.result()) as { output: { bundle: string } }).output.bundle;
  try {
    // pg_restore's own reading of the archive header, independent of the code under test.
    assert.match(store(`pg_restore -l ${z0}/lava-server.dump | grep -i '^; *Compression'`), /Compression: 0\b/);
    assert.match(store(`pg_restore -l ${bundle}/lava-server.dump | grep -i '^; *Compression'`), /Compression: -?[1-9]/, 'the default stays compressed');
    const manifest = JSON.parse(store(`cat ${z0}/manifest.json`)) as Manifest;
    const v = await env.start('lavaBackupVerify', uniqueId('lava-verify-z0'), { store: 'backup-store', bundle: z0, requestedBy: 'alice' });
    const ve = await settled(v);
    assert.equal(ve.status, 'Completed', `${ve.lastError}`);
    assert.deepEqual(((await v.result()) as { output: VerifyOutput }).output.restoredRows, manifest.rows);
  } finally {
    store(`rm -rf ${z0}`);
  }
});
