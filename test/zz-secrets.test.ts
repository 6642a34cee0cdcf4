// Runs last (files run in name order): the history of every run the suite made on its dev server is read
// back and scanned, payloads decoded, for secret material the suite handled: the lab's private SSH keys
// (client, host and controller-0 root keys), the LAVA database password, age identities, the webhook bearer token, the
// OpenStack password of clouds.yaml files and payload-encryption keys. The figure must be 0, and a scan
// of nothing proves nothing: it fails when it found no history to scan.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readDatabaseSettings } from '../scripts/lab/lava-database.js';
import type { LabOptions } from '../scripts/lab/layout.js';
import { testEnv, textOf, uniqueId, type RunningWorker, type TestEnv } from './harness.js';

let env: TestEnv;
let worker: RunningWorker;

before(async () => {
  env = await testEnv();
  worker = await env.startWorker();
});
after(async () => {
  await worker?.stop();
  await env?.close();
});

/** Files under dir (recursively), bounded. */
function filesUnder(dir: string, depth = 4): string[] {
  if (!existsSync(dir) || depth < 0) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    try {
      return statSync(p).isDirectory() ? filesUnder(p, depth - 1) : [p];
    } catch {
      return [];
    }
  });
}

/** Every secret this suite's lab and tests created, as literal strings to look for. */
async function knownSecrets(): Promise<{ what: string; value: string }[]> {
  const lab = JSON.parse(process.env.RUNBOOK_TEST_LAB!) as LabOptions;
  const secrets: { what: string; value: string }[] = [];
  const keyBody = (file: string, what: string): void => {
    if (!existsSync(file)) return;
    // Each base64 line of an OpenSSH private key is secret; any one of them in history is a leak.
    for (const line of readFileSync(file, 'utf8').split('\n')) if (/^[A-Za-z0-9+/=]{40,}$/.test(line)) secrets.push({ what, value: line });
  };
  keyBody(join(lab.dir, 'ssh', 'id_ed25519'), 'lab client private key');
  for (const f of filesUnder(join(lab.dir, 'hosts'), 2).filter((f) => f.endsWith('ssh_host_ed25519_key'))) keyBody(f, `host key ${f}`);
  // controller-0's root key (made by rearBackup; the store's backup user accepts it): only its public half may travel.
  const controllerRoot = join(lab.dir, 'hosts', 'controller-0', 'root', '.ssh', 'id_ed25519');
  keyBody(controllerRoot, "controller-0 root's private key");
  for (const f of filesUnder(process.env.RUNBOOK_DATA_DIR ?? '/nonexistent')) {
    const text = (() => {
      try {
        return statSync(f).size < 1_000_000 ? readFileSync(f, 'utf8') : '';
      } catch {
        return '';
      }
    })();
    if (f.endsWith('clouds.yaml')) for (const m of text.matchAll(/password:\s*(\S+)/g)) secrets.push({ what: `password in ${f}`, value: m[1]! });
    for (const m of text.matchAll(/AGE-SECRET-KEY-1[0-9A-Z]+/g)) secrets.push({ what: `age identity in ${f}`, value: m[0] });
    if (/\/encryption-[^/]+\//.test(f))
      for (const m of text.matchAll(/^\S+ ([A-Za-z0-9+/]{40,}={0,2})$/gm)) secrets.push({ what: `payload key in ${f}`, value: m[1]! });
  }
  // The LAVA master's database password (machine-wide settings file; present once a LAVA lab ran).
  const lava = await readDatabaseSettings().catch(() => undefined);
  if (lava?.password) secrets.push({ what: 'LAVA database password', value: lava.password });
  return secrets;
}

/** Patterns of secrets whose values the tests made up at random (e.g. the webhook token). */
const PATTERNS: { what: string; re: RegExp }[] = [
  { what: 'webhook bearer token', re: /\btok-[a-z0-9]{8,}/ },
  { what: 'OpenStack test password', re: /\bpw-[0-9a-f]{24}\b/ },
  { what: 'age identity', re: /AGE-SECRET-KEY-1[0-9A-Z]{20,}/ },
  { what: 'private key block', re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
];

test('no history of the suite holds secret material', async () => {
  // Runs of its own too, so the scan has something to read when this file runs alone.
  for (const h of [
    await env.start('hostFacts', uniqueId('secrets-facts'), { hosts: ['backup-store'] }),
    await env.start('labDrill', uniqueId('secrets-drill'), { host: 'cloud-client', steps: 2, requestedBy: 'alice', dryRun: true }),
  ])
    await h.result();

  const secrets = await knownSecrets();
  assert.ok(
    secrets.some((s) => s.what === 'lab client private key'),
    'the lab key was found to scan for',
  );
  // Control: a secret inside an encoded payload is seen (payload data are bytes, not text, in a history).
  const planted = { events: [{ input: { payloads: [{ data: new TextEncoder().encode(JSON.stringify({ k: secrets[0]!.value })) }] } }] };
  assert.ok(textOf(planted).join('\n').includes(secrets[0]!.value), 'the scanner finds a secret planted in a payload');
  let histories = 0;
  let events = 0;
  let bytes = 0;
  const hits: string[] = [];
  for await (const wf of env.client.workflow.list()) {
    const history = await env.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    histories++;
    events += history.events?.length ?? 0;
    const text = textOf(history).join('\n');
    bytes += text.length;
    for (const s of secrets) if (text.includes(s.value)) hits.push(`${wf.workflowId}: ${s.what}`);
    for (const p of PATTERNS) if (p.re.test(text)) hits.push(`${wf.workflowId}: ${p.what}`);
  }
  console.log(
    `secrets: scanned ${histories} histories, ${events} events, ${(bytes / 1024 / 1024).toFixed(1)} MiB of decoded text for ${secrets.length} known secrets and ${PATTERNS.length} patterns: ${hits.length} hits`,
  );
  assert.ok(histories >= 2, 'a scan of nothing proves nothing');
  assert.deepEqual(hits, []);
});
