// The two other paths an SRE approves by, against their real endpoints: the chat callback (Slack-style
// signed requests from the notification's buttons) and the codec server the Web UI calls (its own login
// with a session cookie, and an OIDC access token checked against the issuer's JWKS); both under the
// default policy (proof required). The browser itself: test/web-ui.test.ts.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startChatCallback } from '../scripts/chat-callback.js';
import { CodecAuth } from '../scripts/codec-auth.js';
import { startCodecServer } from '../scripts/codec-server.js';
import type { WorkerConfig } from '../workers/config.js';
import type { RunbookView } from '../workflows/engine/messages.js';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { refusedUpdate, status, testEnv, trust, uniqueId, waitFor, type TestEnv } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
afterEach(async () => env?.endRuns());
after(async () => env?.close());

const HOST = 'backup-store';
const GATE = 'write-marker';

function strict(extra: Partial<WorkerConfig> = {}): Partial<WorkerConfig> {
  const policies = structuredClone(env.config.policies);
  policies.default.allowUnverifiedApprovers = false;
  policies.runbooks.labDrill = { gates: { [GATE]: { ...policies.default, approvers: ['alice', 'bob', 'carol'] } } };
  return { policies, ...extra };
}

const atGate = (h: { query: (q: string) => Promise<unknown> }): Promise<RunbookView> =>
  waitFor('the gate', async () => {
    const v = (await h.query('status')) as RunbookView;
    return v.status === 'AwaitingApproval' && v;
  });

describe('chat approvals', () => {
  test('a correctly signed button callback approves as the mapped chat user; bad signature, old timestamp, unmapped user refused', async () => {
    const received: { blocks?: { elements: { action_id: string; value: string }[] }[]; workflowId: string; event: string }[] = [];
    const hook = createServer((req: IncomingMessage, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c));
      req.on('end', () => {
        received.push(JSON.parse(b));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const w = await env.startWorker({ config: strict({ notify: { webhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook` } }) });
    const cb = await startChatCallback({ signingSecretFile: trust.chatSecretFile, client: env.client });
    try {
      const h = await env.start('labDrill', uniqueId('chat'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await atGate(h);
      const note = await waitFor('the gate notification', async () => received.find((r) => r.workflowId === h.workflowId && r.event === 'awaiting-approval'));
      const button = note.blocks![0]!.elements.find((e) => e.action_id === 'approve')!;
      const secret = (await import('node:fs')).readFileSync(trust.chatSecretFile, 'utf8').trim();
      const post = (user: string, opts: { ts?: number; secret?: string } = {}) => {
        const body = `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: user }, actions: [{ action_id: 'approve', value: button.value }] }))}`;
        const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
        const sig = `v0=${createHmac('sha256', opts.secret ?? secret)
          .update(`v0:${ts}:${body}`)
          .digest('hex')}`;
        return fetch(cb.url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': sig },
          body,
        }).then(async (r) => ({ status: r.status, text: ((await r.json()) as { text: string }).text }));
      };
      const forged = await post('UBOB', { secret: 'not-the-secret' });
      assert.deepEqual([forged.status, forged.text], [401, 'the callback signature does not match the signing secret']);
      const old = await post('UBOB', { ts: Math.floor(Date.now() / 1000) - 10 * 60 });
      assert.equal(old.status, 401);
      assert.match(old.text, /s old \(more than 300 s\): a replay/);
      const stranger = await post('UMALLORY');
      assert.equal(stranger.status, 403);
      assert.match(stranger.text, /chat user UMALLORY is not mapped to an approver/);
      assert.equal((await status(h)).openGate?.approvals.length, 0);
      const ok = await post('UBOB');
      assert.deepEqual([ok.status, ok.text], [200, `approved gate ${GATE} of ${h.workflowId} as bob`]);
      const res = (await h.result()) as RunbookResult;
      assert.deepEqual(
        res.approvals.map((a) => [a.approver, a.proven?.via, a.proven?.identity]),
        [['bob', 'chat', 'chat user UBOB']],
      );
    } finally {
      await cb.close();
      await w.stop();
      hook.close();
    }
  });
});

describe('the codec server authenticates the Web UI user and countersigns', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const plain = (v: unknown) => ({ metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(v)) });
  const ORIGIN = 'http://127.0.0.1:8253';

  test('no login, no service; the logged-in user is countersigned and approves under their name', async () => {
    const w = await env.startWorker({ config: strict() });
    const codec = await startCodecServer({
      port: 0,
      codec: null,
      auth: new CodecAuth({ usersFile: trust.codecUsers }),
      uiOrigins: [ORIGIN],
      countersignKey: trust.codecKey,
      statusOf: (_ns, id) => env.client.workflow.getHandle(id).query<RunbookView>('status'),
    });
    try {
      const h = await env.start('labDrill', uniqueId('codec-login'), { host: HOST, steps: 1, requestedBy: 'alice' });
      await atGate(h);
      const verdict = { workflowId: h.workflowId, gate: GATE, verdict: 'approve', reason: 'from the Web UI' };
      const call = (op: string, body: unknown, headers: Record<string, string> = {}) =>
        fetch(`${codec.url}/${op}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: ORIGIN, ...headers },
          body: JSON.stringify(body),
        });
      const anon = await call('decode', { payloads: [plain({ x: 1 })] });
      assert.equal(anon.status, 401);
      assert.match(((await anon.json()) as { error: string }).error, /not authenticated: log in to the codec server/);
      assert.equal((await call('encode', { payloads: [plain(verdict)] })).status, 401);
      assert.equal(
        (await fetch(`${codec.url}/decode`, { method: 'POST', headers: { origin: 'http://evil.example' }, body: '{}' })).status,
        403,
        'CORS: only the UI origin',
      );
      assert.equal((await call('login', { user: 'bob', password: 'wrong' })).status, 401);
      const login = await call('login', { user: 'bob', password: trust.passwords.bob });
      assert.equal(login.status, 200);
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      assert.match(login.headers.get('set-cookie')!, /HttpOnly; SameSite=Strict/);
      const enc = await call('encode', { payloads: [plain(verdict)] }, { cookie });
      assert.equal(enc.status, 200);
      const signed = JSON.parse(Buffer.from(((await enc.json()) as { payloads: { data: string }[] }).payloads[0]!.data, 'base64').toString());
      assert.equal(signed.approver, 'bob');
      assert.equal(signed.proof.kind, 'codec');
      // A countersigned approve is not a reject, and bob's approval counts as bob's.
      assert.match(await refusedUpdate(h.executeUpdate('reject', { args: [signed] })), /the proof is for the verdict "approve", not "reject"/);
      await h.executeUpdate('approve', { args: [signed] });
      const res = (await h.result()) as RunbookResult;
      assert.deepEqual(
        res.approvals.map((a) => [a.approver, a.proven?.via, a.proven?.identity]),
        [['bob', 'web', 'web user bob']],
      );
      // Logged out: refused again.
      await call('logout', {}, { cookie });
      assert.equal((await call('decode', { payloads: [plain({ x: 1 })] }, { cookie })).status, 401);
    } finally {
      await codec.close();
      await w.stop();
    }
  });

  test('an OIDC access token verified against the issuer and its JWKS names the user; a token from another key is refused', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const other = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const idp = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url?.includes('openid-configuration') ? { issuer, jwks_uri: `${issuer}/jwks` } : { keys: [jwk] }));
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
    const issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    const token = (key: Parameters<SignJWT['sign']>[0], user: string) =>
      new SignJWT({ preferred_username: user })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(issuer)
        .setAudience('temporal-ui')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    const codec = await startCodecServer({
      port: 0,
      codec: null,
      auth: new CodecAuth({ oidc: { issuer, audience: 'temporal-ui' } }),
      uiOrigins: [ORIGIN],
      countersignKey: trust.codecKey,
    });
    try {
      const whoami = async (t: string) => (await fetch(`${codec.url}/whoami`, { headers: { authorization: `Bearer ${t}` } })).status;
      assert.equal(await whoami(await token(privateKey, 'carol')), 200);
      assert.equal(await whoami(await token(other.privateKey, 'carol')), 401);
      const dec = await fetch(`${codec.url}/decode`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await token(privateKey, 'carol')}` },
        body: JSON.stringify({ payloads: [plain({ x: 1 })] }),
      });
      assert.equal(dec.status, 200);
    } finally {
      await codec.close();
      idp.close();
    }
  });
});
