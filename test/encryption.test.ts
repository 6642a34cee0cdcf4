// Payload encryption against the real dev server and lab: an encrypted labDrill run leaves no plaintext in
// history; the codec server decodes it for the UI and encodes an approval the way the UI sends it; key
// rotation keeps old histories readable; a group/other-readable key file is refused.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Payload } from '@temporalio/common';
import { JSONToPayload, payloadToJSON, type History, type JSONPayload } from '@temporalio/common/lib/proto-utils.js';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { startCodecServer, type CodecServer } from '../scripts/codec-server.js';
import { AesGcmPayloadCodec, CodecKeyError, dataConverter, loadCodecKeys, loadKeysFile, payloadCodec } from '../workers/payload-codec.js';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { scratchDir, status, testEnv, uniqueId, waitFor, type TestEnv } from './harness.js';

const HOST = 'lava-worker';
const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');
const text = (u: Uint8Array | null | undefined): string => Buffer.from(u ?? new Uint8Array()).toString('utf8');

let env: TestEnv;
let dir: string;
const keyOld = randomBytes(32);
const keyNew = randomBytes(32);
function keyFile(name: string, lines: [string, Buffer][], mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, lines.map(([id, k]) => `${id} ${k.toString('base64')}\n`).join(''), { mode });
  chmodSync(p, mode); // the umask must not decide the test
  return p;
}

before(async () => {
  env = await testEnv();
  dir = scratchDir('encryption');
});
afterEach(async () => env?.endRuns());
after(async () => env?.close());

/** Every payload in a history with where it is, except search attributes (never encoded, must stay searchable). */
function payloadsOf(history: History): { path: string; p: Payload }[] {
  const out: { path: string; p: Payload }[] = [];
  const walk = (v: unknown, path: string): void => {
    if (!v || typeof v !== 'object' || v instanceof Uint8Array) return;
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}[${i}]`));
    const o = v as Record<string, unknown>;
    if (o.data instanceof Uint8Array && o.metadata && typeof o.metadata === 'object') {
      out.push({ path, p: o as Payload });
      return;
    }
    for (const [k, x] of Object.entries(o)) if (k !== 'searchAttributes') walk(x, `${path}.${k}`);
  };
  walk(history.events, 'events');
  return out;
}

async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown>, headers: r.headers };
}

describe('payload encryption', () => {
  let runId: string;
  let workflowId: string;
  let history: History;
  let codecServer: CodecServer | undefined;
  after(async () => {
    await codecServer?.close();
    // The host's lock is left running on purpose: its payloads are plain JSON, so the codec-less workers of
    // the next test files serve it (lease.test.ts runs this file together with gate and quick-step tests).
  });

  test('an encrypted run: no plaintext in history, the codec server decodes it, an approval sent through /encode works', async () => {
    const file = keyFile('keys', [['k-old', keyOld]]);
    const dc = dataConverter({ RUNBOOK_CODEC_KEYS_FILE: file })!;
    assert.ok(dc, 'a key file configures a converter');
    const enc = env.clientWith(dc);
    const w = await env.startWorker({ dataConverter: dc });
    try {
      workflowId = uniqueId('drill-enc');
      const input = { host: HOST, steps: 1, requestedBy: 'alice' };
      const h = await env.start('labDrill', workflowId, input, { client: enc });
      runId = (await h.describe()).runId;
      const view = await waitFor('the gate to open', async () => {
        const v = await status(h);
        return v.status === 'AwaitingApproval' && v;
      });
      assert.equal(view.openGate?.name, 'write-marker');
      // Search attributes are not encrypted: the run is still found by them.
      await waitFor('the visibility query to find it', async () => {
        for await (const x of env.client.workflow.list({ query: `RunbookStatus = "AwaitingApproval" AND RunbookGate = "write-marker"` })) {
          if (x.workflowId === workflowId) return true;
        }
        return false;
      });
      // A client without the key cannot read what the workflow answers.
      await assert.rejects(env.client.workflow.getHandle(workflowId).query('status'), /binary\/encrypted|encoding/i);

      // (2) The codec server, as the UI calls it: endpoint with a path prefix, /decode?…, X-Namespace, bearer token, CORS.
      codecServer = await startCodecServer({
        port: 0,
        host: '127.0.0.1',
        codec: payloadCodec({ RUNBOOK_CODEC_KEYS_FILE: file })!,
        authToken: 'tok',
        uiOrigins: ['http://127.0.0.1:8443'],
      });
      const endpoint = `${codecServer.url}/codec`;
      const auth = { authorization: 'Bearer tok' };
      const pre = await fetch(`${endpoint}/encode`, {
        method: 'OPTIONS',
        headers: {
          origin: 'http://127.0.0.1:8443',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace,authorization',
        },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-origin'), 'http://127.0.0.1:8443');
      assert.match(pre.headers.get('access-control-allow-headers') ?? '', /x-namespace/);
      const foreign = await fetch(`${endpoint}/decode`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
      assert.equal(foreign.status, 403);
      assert.equal(foreign.headers.get('access-control-allow-origin'), null);

      // (3) Approve the way the UI does: json/plain payload → /encode → the encoded payload sent as the raw Update.
      const approval = { gate: 'write-marker', approver: 'bob', reason: 'via /encode' };
      const plain: JSONPayload = { metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(approval)) };
      assert.equal((await post(`${endpoint}/encode`, { payloads: [plain] })).status, 401, 'no token, no service');
      const encoded = await post(`${endpoint}/encode`, { payloads: [plain] }, { ...auth, origin: 'http://127.0.0.1:8443' });
      assert.equal(encoded.status, 200, JSON.stringify(encoded.json));
      assert.equal(encoded.headers.get('access-control-allow-origin'), 'http://127.0.0.1:8443');
      const [encPayload] = encoded.json.payloads as JSONPayload[];
      assert.equal(text(Buffer.from(encPayload!.metadata!.encoding!, 'base64')), 'binary/encrypted');
      assert.ok(!text(Buffer.from(encPayload!.data!, 'base64')).includes('via /encode'));
      const upd = await env.client.workflowService.updateWorkflowExecution({
        namespace: 'default',
        workflowExecution: { workflowId, runId },
        waitPolicy: { lifecycleStage: proto.temporal.api.enums.v1.UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED },
        request: {
          meta: { updateId: randomUUID(), identity: 'web-ui (test)' },
          input: { name: 'approve', args: { payloads: [JSONToPayload(encPayload!)] } },
        },
      });
      assert.ok(!upd.outcome?.failure, `the Update was refused: ${upd.outcome?.failure?.message}`);
      const out = upd.outcome!.success!.payloads![0]!;
      assert.equal(text(out.metadata!.encoding), 'binary/encrypted', 'the Update result is encrypted too');
      // The UI decodes the result through /decode.
      const decodedOut = await post(`${endpoint}/decode?preserveStorageRefs=true`, { payloads: [payloadToJSON(out)] }, auth);
      const rec = JSON.parse(text(Buffer.from((decodedOut.json.payloads as JSONPayload[])[0]!.data!, 'base64'))) as { verdict: string; approver: string };
      assert.deepEqual([rec.verdict, rec.approver], ['approved', 'bob']);

      const res = (await h.result()) as RunbookResult;
      assert.equal(res.status, 'Completed');
      assert.deepEqual(
        res.approvals.map((a) => [a.approver, a.verdict, a.via, a.reason]),
        [['bob', 'approved', 'update', 'via /encode']],
      );

      // (1) History fetched WITHOUT the key: every payload encrypted with k-old, no plaintext anywhere.
      history = await env.client.workflow.getHandle(workflowId).fetchHistory();
      const all = payloadsOf(history);
      assert.ok(all.length >= 5, `expected payloads in history, found ${all.length}`);
      // The SDK core writes its own marker bookkeeping (a patch's id, a local activity's sequence number,
      // type and times) as plain JSON, past any codec: exempt from this check, not from the plaintext scan
      // below. A local activity's RESULT (a quick step's command output) is a codec payload like any other.
      const coreBookkeeping = /\.markerRecordedEventAttributes\.details\.(patch-data|data)\.payloads\[\d+\]$/;
      const laResults = all.filter(({ path }) => /\.markerRecordedEventAttributes\.details\.result\.payloads\[\d+\]$/.test(path));
      assert.ok(laResults.length >= 1, 'the quick steps left local-activity results in history');
      // The lock's news (granted / queued) is plain JSON by design (host-lease.ts): it names the lock by a hash
      // of the host key and this run by its run id, nothing else; checked here, and by the plaintext scan below.
      const leaseNews = history.events!.flatMap((e, i) =>
        e.workflowExecutionSignaledEventAttributes?.signalName === 'leaseNews'
          ? [`events[${i}].workflowExecutionSignaledEventAttributes.input.payloads[0]`]
          : [],
      );
      for (const { path, p } of all.filter(({ path }) => leaseNews.includes(path))) {
        assert.deepEqual(Object.keys(JSON.parse(text(p.data))).sort(), ['granted', 'host', 'runId'], `${path}: only the lock, the verdict and the run id`);
        assert.match(JSON.parse(text(p.data)).host, /^host-lease:[0-9a-f]{24}$/);
      }
      const plainOnes = all.filter(
        ({ path, p }) =>
          !coreBookkeeping.test(path) &&
          !leaseNews.includes(path) &&
          (text(p.metadata?.encoding) !== 'binary/encrypted' || text(p.metadata?.['encryption-key-id']) !== 'k-old'),
      );
      assert.deepEqual(
        plainOnes.map(({ path, p }) => `${path}: ${text(p.metadata?.encoding)}`),
        [],
        'every payload is binary/encrypted with key id k-old',
      );
      for (const secret of ['"requestedBy":"alice"', 'alice', HOST, 'write-marker', 'via /encode', workflowId]) {
        for (const { path, p } of all) {
          const bytes = Buffer.from(p.data!);
          assert.ok(!bytes.includes(secret) && !bytes.includes(b64(secret)), `${path} holds plaintext ${secret}`);
        }
      }
      const startedInput = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
      const decoded = await post(`${endpoint}/decode`, { payloads: [payloadToJSON(startedInput)] }, auth);
      assert.equal(decoded.status, 200);
      const dp = (decoded.json.payloads as JSONPayload[])[0]!;
      assert.equal(text(Buffer.from(dp.metadata!.encoding!, 'base64')), 'json/plain');
      assert.deepEqual(JSON.parse(text(Buffer.from(dp.data!, 'base64'))), input);
    } finally {
      await w.stop();
    }
  });

  test('rotation: a new first key still decrypts the old run; without the old key the error names it', async () => {
    assert.ok(history, 'needs the encrypted run above');
    const rotated = keyFile('keys-rotated', [
      ['k-new', keyNew],
      ['k-old', keyOld],
    ]);
    const keys = loadKeysFile(rotated);
    assert.equal(keys.encryptKeyId, 'k-new');
    // The old run replays with the rotated converter (the same bundle the worker runs).
    await Worker.runReplayHistory({ workflowBundle: env.bundle, dataConverter: dataConverter({ RUNBOOK_CODEC_KEYS_FILE: rotated })! }, history, workflowId);
    const codec = new AesGcmPayloadCodec(keys);
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]! as Payload;
    assert.deepEqual(JSON.parse(text((await codec.decode([input]))[0]!.data)), { host: HOST, steps: 1, requestedBy: 'alice' });
    const [fresh] = await codec.encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"x"') }]);
    assert.equal(text(fresh!.metadata!['encryption-key-id']), 'k-new', 'new payloads use the first key');

    const onlyNew = payloadCodec({ RUNBOOK_CODEC_KEYS_FILE: keyFile('keys-new-only', [['k-new', keyNew]]) })!;
    await assert.rejects(onlyNew.decode([input]), (err: Error) => err instanceof CodecKeyError && /key id "k-old"/.test(err.message));
  });

  test('key configuration: a group/other-readable file is refused; env keys; nothing set = no codec; no key in messages', () => {
    const loose = keyFile('keys-0644', [['k-old', keyOld]], 0o644);
    assert.throws(
      () => loadCodecKeys({ RUNBOOK_CODEC_KEYS_FILE: loose }),
      (err: Error) => err instanceof CodecKeyError && /mode 0644/.test(err.message) && !err.message.includes(keyOld.toString('base64')),
    );
    assert.equal(dataConverter({}), undefined, 'no key configured: plain payloads, as before');
    const fromEnv = loadCodecKeys({ RUNBOOK_CODEC_KEY_ID: 'env-1', RUNBOOK_CODEC_KEY: keyNew.toString('base64') });
    assert.equal(fromEnv?.encryptKeyId, 'env-1');
    const short = randomBytes(16).toString('base64');
    assert.throws(
      () => loadCodecKeys({ RUNBOOK_CODEC_KEY_ID: 'env-1', RUNBOOK_CODEC_KEY: short }),
      (err: Error) => /16 bytes, AES-256 needs 32/.test(err.message) && !err.message.includes(short),
    );
    assert.throws(() => loadCodecKeys({ RUNBOOK_CODEC_KEY_ID: 'env-1' }), /must be set together/);
  });
});
