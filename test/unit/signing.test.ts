// Signed manifests and backup records (issue 21 item 2, issue 20 "latest"): what the worker accepts, what it
// refuses before anything changes, and how "latest" and retention are chosen. Real ssh-keygen, real keys.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { allowedSigningKeys, signText, verifyListed, type ListedRecord, type VerifiedRecord } from '../../activities/store/signing.js';
import { beyondRetention, chooseBundle } from '../../workflows/lava/checks.js';
import { wantedKeys } from '../../workflows/rear/store.js';
import { loadWorkerConfig } from '../../workers/config.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-signing-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const keyPair = (name: string): string => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  return join(dir, name);
};
const worker = keyPair('worker');
const stranger = keyPair('stranger');
const base = loadWorkerConfig();
const config = { ...base, backups: { ...base.backups, signingKeyFile: worker, signingPublicKeys: [] } };
const keys = allowedSigningKeys(config);
const b64 = (s: string): string => Buffer.from(s).toString('base64');

const path = 'backups/lava/lava-master/20261122T020000Z';
const manifest = (over: Record<string, unknown> = {}): string =>
  `${JSON.stringify({ location: path, createdAt: '2026-11-22T02:00:00.000Z', rows: { auth_user: 3 }, versions: { 'lava-server': '2023.01-1' }, ...over }, null, 2)}\n`;
const listed = async (text: string, signedText = text, key = worker): Promise<ListedRecord> => {
  const c = { ...config, backups: { ...config.backups, signingKeyFile: key } };
  return { path, text: b64(text), signature: b64(await signText(c, signedText)) };
};

test('a manifest signed by the worker key, for the place it is in, is accepted with its sha256 and creation time', async () => {
  assert.deepEqual(keys, [readFileSync(`${worker}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')]);
  const v = await verifyListed(keys, await listed(manifest()), 'manifest.json');
  assert.equal(v.problem, undefined);
  assert.equal(v.createdAt, '2026-11-22T02:00:00.000Z');
  assert.match(v.sha256 ?? '', /^[0-9a-f]{64}$/);
});

test('a tampered manifest (versions, counts, checksum) is refused, naming why', async () => {
  const good = manifest();
  for (const edited of [
    manifest({ versions: { 'lava-server': '2099.01-1' } }),
    manifest({ rows: { auth_user: 4 } }),
    manifest({ files: { 'lava-server.dump': { size: 1, sha256: 'f'.repeat(64) } } }),
  ]) {
    const v = await verifyListed(keys, await listed(edited, good), 'manifest.json');
    assert.match(v.problem ?? '', /manifest\.json: the signature does not verify with any configured key/);
  }
});

test('unsigned, signed by another key, or copied under another name: refused', async () => {
  const unsigned = await verifyListed(keys, { path, text: b64(manifest()), signature: null }, 'manifest.json');
  assert.match(unsigned.problem ?? '', /manifest\.json\.sig is missing: the record is not signed/);
  const other = await verifyListed(keys, await listed(manifest(), manifest(), stranger), 'manifest.json');
  assert.match(other.problem ?? '', /does not verify with any configured key/);
  const copy = await verifyListed(keys, { ...(await listed(manifest())), path: 'backups/lava/lava-master/20991231T000000Z' }, 'manifest.json');
  assert.match(copy.problem ?? '', /was signed for backups\/lava\/lava-master\/20261122T020000Z, not for this place \(a copy\)/);
  const none = await verifyListed([], await listed(manifest()), 'manifest.json');
  assert.match(none.problem ?? '', /no backup signing public key configured/);
});

test('a worker without its signing key refuses to sign, naming the setting', async () => {
  const keyless = { ...config, backups: { ...config.backups, signingKeyFile: join(dir, 'absent') } };
  await assert.rejects(signText(keyless, 'x'), /no backup signing key at .*absent: run scripts\/setup\.sh .*backups\.signingKeyFile/);
});

const rec = (name: string, createdAt: string, problem?: string): VerifiedRecord =>
  problem
    ? { path: `backups/lava/m/${name}`, problem: `backups/lava/m/${name}: ${problem}` }
    : { path: `backups/lava/m/${name}`, sha256: 'a'.repeat(64), createdAt };

test('"latest" is the newest signed creation time, never the latest-sorting name', () => {
  const records = [
    rec('20261201T000000Z-copy', '', 'manifest.json was signed for backups/lava/m/20261101T000000Z, not for this place (a copy); refused'),
    rec('20261101T000000Z', '2026-11-01T00:00:00.000Z'),
    rec('20261120T000000Z', '2026-11-20T00:00:00.000Z'),
    rec('20261125T000000Z', '', 'manifest.json.sig is missing'),
  ];
  const found = chooseBundle(records, 'latest', 'backups/lava', 'm');
  assert.equal(found.problem, undefined);
  assert.equal(found.bundle, 'backups/lava/m/20261120T000000Z');
  assert.equal(found.refused.length, 2);
  assert.match(
    chooseBundle(records, '20261125T000000Z', 'backups/lava', 'm').problem ?? '',
    /20261125T000000Z: manifest\.json\.sig is missing; nothing was changed/,
  );
  assert.match(chooseBundle(records.slice(3), 'latest', 'backups/lava', 'm').problem ?? '', /no bundle with a good signature under backups\/lava\/m/);
  assert.equal(chooseBundle(records, 'backups/lava/m/20261101T000000Z', 'backups/lava').bundle, 'backups/lava/m/20261101T000000Z');
});

test('retention counts and removes signed bundles only, by signed creation time', () => {
  const records = [
    rec('20991231T000000Z', '', 'manifest.json.sig is missing'),
    rec('20261101T000000Z', '2026-11-01T00:00:00.000Z'),
    rec('20261103T000000Z', '2026-11-03T00:00:00.000Z'),
    rec('20261102T000000Z', '2026-11-02T00:00:00.000Z'),
  ];
  assert.deepEqual(beyondRetention(records, 2), ['20261101T000000Z']);
  assert.deepEqual(beyondRetention(records, 7), []);
});

test('store keys installed by rearPrepareStore are restricted (no forwarding through the nologin user)', () => {
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3 root@controller-0';
  assert.equal(wantedKeys({ authorizedKeys: [key] } as Parameters<typeof wantedKeys>[0]), `restrict ${key}`);
});

test('the pre-restore dump refuses when it cannot tell whether the database exists (never an empty dump)', () => {
  // A stub runuser whose psql fails as a refused connection does: the old script wrote "did not exist" and exit 0.
  const bin = join(dir, 'bin');
  execFileSync('mkdir', ['-p', bin]);
  writeFileSync(join(bin, 'runuser'), '#!/bin/sh\necho "psql: error: connection to server failed" >&2\nexit 2\n', { mode: 0o755 });
  const script = readFileSync('workflows/lava/scripts/dump-current-database.sh', 'utf8');
  let out = '';
  let code = 0;
  try {
    out = execFileSync('sh', ['-c', script, 'dump-current', '5432', 'lavaserver'], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } catch (e) {
    code = (e as { status: number }).status;
  }
  assert.equal(out.includes('did not exist'), false, 'no empty "there was no database" dump');
  assert.notEqual(code, 0);
});
