// lavaMasterBackup against the REAL LAVA master of the test lab (lava-server 2023.01 on PostgreSQL): the
// bundle is private, its manifest checks out file by file, it carries the installed lava-server .deb, its
// dump restores into a scratch database with the same row counts, and no DB password reaches history.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { LabOptions } from '../scripts/lab/layout.js';
import { lavaUp } from '../scripts/lab/lava.js';
import { onHost, status, testEnv, uniqueId, waitFor, type TestEnv } from './harness.js';

let env: TestEnv;
let lab: LabOptions;
before(async () => {
  env = await testEnv();
  lab = JSON.parse(process.env.RUNBOOK_TEST_LAB!) as LabOptions;
  await lavaUp(lab); // installs nothing when installed; points the machine's LAVA at this lab's PostgreSQL
});
after(async () => {
  await env?.endRuns();
  await env?.close();
});

interface Manifest {
  files: Record<string, { size: number; sha256: string }>;
  rows: Record<string, number>;
  versions: Record<string, string>;
  configuration: { present: string[]; absent: string[] };
}

test('a backup bundle is self-contained, private, verifiable and restorable', async () => {
  const w = await env.startWorker();
  try {
    const h = await env.start('lavaMasterBackup', uniqueId('lava-backup'), { master: 'lava-master', store: 'backup-store', requestedBy: 'alice', label: 'test' });
    // A parked step would wait for a human forever: fail with its reason instead.
    const end = await waitFor('the backup to finish or park', async () => {
      const v = await status(h);
      return (v.status === 'Completed' || v.status === 'Parked' || v.status === 'Failed') && v;
    }, 300_000);
    assert.equal(end.status, 'Completed', `parked: ${end.parked?.step}: ${end.parked?.error}`);
    const res = (await h.result()) as { status: string; output: { bundle: string; rows: Record<string, number> } };
    assert.equal(res.status, 'Completed');
    const bundle = res.output.bundle;
    assert.match(bundle, /^backups\/lava\/lava-master\/\d{8}T\d{6}Z-test$/);
    const store = (script: string): string => onHost(env.inventory, 'backup-store', script);

    // Private: the bundle holds what a restore needs, including database content.
    assert.equal(store(`stat -c %a ${bundle}`).trim(), '700');
    assert.deepEqual([...new Set(store(`find ${bundle} -type f -exec stat -c %a {} +`).trim().split('\n'))], ['600']);
    assert.equal(store(`ls -d ${bundle}.partial 2>/dev/null | wc -l`).trim(), '0', 'no partial bundle left');

    // The manifest, checked independently with sha256sum on the store.
    const manifest = JSON.parse(store(`cat ${bundle}/manifest.json`)) as Manifest;
    assert.deepEqual(Object.keys(manifest.files).sort(), ['configuration.tar', 'job-output.tar', 'lava-server.sql', 'packages.tar']);
    for (const [name, f] of Object.entries(manifest.files)) {
      assert.equal(store(`sha256sum < ${bundle}/${name} | cut -d' ' -f1`).trim(), f.sha256, name);
      assert.equal(Number(store(`stat -c %s ${bundle}/${name}`).trim()), f.size, name);
    }
    assert.ok(manifest.configuration.present.includes('etc/lava-server'));
    assert.ok(manifest.configuration.absent.includes('etc/ser2net.yaml'), 'absent optional files are recorded, not errors');

    // The exact installed lava-server version, as a .deb a restore can install.
    const installed = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'lava-server'], { encoding: 'utf8' });
    assert.equal(manifest.versions['lava-server'], installed);
    const debs = store(`tar -tf ${bundle}/packages.tar`);
    assert.match(debs, new RegExp(`^lava-server_${installed.replace(':', '%3a').replace(/[.+]/g, '\\$&')}_all\\.deb$`, 'm'));
    assert.match(store(`tar -tf ${bundle}/job-output.tar | head -50`), /job-output\/\d{4}\/\d{2}\/\d{2}\/\d+\/output\.yaml/);

    // The dump restores into a scratch database (never the live one) with the same row counts.
    const scratch = `scratch_${Date.now()}`;
    const psql = `psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p ${lab.pgPort} -U postgres`;
    store(`createdb -h 127.0.0.1 -p ${lab.pgPort} -U postgres ${scratch} && ${psql} -q -d ${scratch} -f ${bundle}/lava-server.sql > /dev/null`);
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
    assert.ok(!JSON.stringify(await h.fetchHistory()).includes(password), 'the DB password is not in history');
  } finally {
    await w.stop();
  }
});
