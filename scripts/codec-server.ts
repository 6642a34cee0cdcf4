// `npm run codec-server`: the codec server the Temporal Web UI (and `temporal --codec-endpoint`) calls to show
// encrypted payloads decoded (POST <endpoint>/decode) and to encrypt what an operator sends from the UI:
// signals, Updates (approvals) and starts (POST <endpoint>/encode). node:http only, 127.0.0.1 only.
//
// Body both ways: {"payloads":[{"metadata":{"<key>":"<base64>"},"data":"<base64>"}]}.
// Keys: the worker's (RUNBOOK_CODEC_KEYS_FILE or RUNBOOK_CODEC_KEY_ID + RUNBOOK_CODEC_KEY); none: payloads
// pass through as they are (the server still authenticates and countersigns). Port: RUNBOOK_CODEC_PORT (8888).
//
// Nobody unauthenticated is served: /decode and /encode need the UI user's OIDC access token
// (RUNBOOK_CODEC_OIDC_ISSUER [+ _JWKS_URL, _AUDIENCE, _USER_CLAIM]), a session of the server's own login
// (POST /login against RUNBOOK_CODEC_USERS_FILE; cookie sent by the UI's "Include cross-origin
// credentials"), or the tools' bearer token RUNBOOK_CODEC_AUTH_TOKEN. RUNBOOK_CODEC_ALLOW_ANONYMOUS=1 turns
// that off, explicitly. A verdict the UI sends through /encode ({"workflowId", "gate", "reason"} or
// {"workflowId", "decision", "reason"}) is countersigned with RUNBOOK_CODEC_SIGNING_KEY naming the logged-in
// user; a tool or anonymous caller cannot send one. CORS: only the UI's origin (RUNBOOK_CODEC_UI_ORIGIN).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { PayloadCodec } from '@temporalio/common';
import { JSONToPayload, payloadToJSON, type JSONPayload } from '@temporalio/common/lib/proto-utils.js';
import { connectClient } from '../workers/connection.js';
import { CodecKeyError, payloadCodec, type AesGcmPayloadCodec } from '../workers/payload-codec.js';
import type { RunbookView } from '../workflows/engine/messages.js';
import { CodecAuth, countersign, SESSION_COOKIE, verdictRequest, type Caller } from './codec-auth.js';

export const DEFAULT_CODEC_PORT = 8888;
const LOGIN_FORM = `<!doctype html><title>runbook codec login</title>
<form method="post" action="login"><label>user <input name="user" autocomplete="username"></label>
<label>password <input name="password" type="password" autocomplete="current-password"></label> <button>log in</button></form>`;
const MAX_BODY = 64 * 1024 * 1024;
const ALLOWED_HEADERS = 'content-type, x-namespace, authorization';

export interface CodecServerOptions {
  port?: number;
  host?: string;
  /** Default: the codec configured in the environment; null: payloads pass through unencrypted. */
  codec?: PayloadCodec | null;
  /** Default: RUNBOOK_CODEC_AUTH_TOKEN: tools' access (decode, encode), never a countersignature. */
  authToken?: string;
  /** Default: from the environment (see the top of this file). */
  auth?: CodecAuth;
  /** The Web UI origins allowed by CORS. Default: RUNBOOK_CODEC_UI_ORIGIN (comma-separated), else http://127.0.0.1:8233. */
  uiOrigins?: string[];
  /** The codec server's own SSH key (private), trusted by workers as `runbook-codec`. Default RUNBOOK_CODEC_SIGNING_KEY. */
  countersignKey?: string;
  /** The run's status, to bind a countersignature to the gate open now. Default: a client from the environment. */
  statusOf?: (namespace: string, workflowId: string) => Promise<RunbookView>;
}

export function authFromEnv(env: NodeJS.ProcessEnv = process.env, token?: string): CodecAuth {
  return new CodecAuth({
    usersFile: env.RUNBOOK_CODEC_USERS_FILE || undefined,
    oidc: env.RUNBOOK_CODEC_OIDC_ISSUER
      ? {
          issuer: env.RUNBOOK_CODEC_OIDC_ISSUER,
          jwksUrl: env.RUNBOOK_CODEC_OIDC_JWKS_URL || undefined,
          audience: env.RUNBOOK_CODEC_OIDC_AUDIENCE || undefined,
          userClaim: env.RUNBOOK_CODEC_OIDC_USER_CLAIM || undefined,
        }
      : undefined,
    token: token ?? (env.RUNBOOK_CODEC_AUTH_TOKEN || undefined),
    allowAnonymous: env.RUNBOOK_CODEC_ALLOW_ANONYMOUS === '1',
  });
}

export interface CodecServer {
  server: Server;
  /** e.g. http://127.0.0.1:8888 — give this to the UI (`--ui-codec-endpoint`); it appends /decode and /encode. */
  url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startCodecServer(opts: CodecServerOptions = {}): Promise<CodecServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? Number(process.env.RUNBOOK_CODEC_PORT ?? DEFAULT_CODEC_PORT);
  const auth = opts.auth ?? authFromEnv(process.env, opts.authToken);
  const codec = opts.codec === undefined ? (payloadCodec() ?? null) : opts.codec;
  const origins = opts.uiOrigins ?? (process.env.RUNBOOK_CODEC_UI_ORIGIN ?? 'http://127.0.0.1:8233').split(',').map((o) => o.trim());
  const signingKey = opts.countersignKey ?? (process.env.RUNBOOK_CODEC_SIGNING_KEY || undefined);
  let client: ReturnType<typeof connectClient> | undefined;
  const statusOf =
    opts.statusOf ??
    (async (namespace: string, workflowId: string): Promise<RunbookView> => {
      client ??= connectClient();
      const c = await client;
      return c.workflow.getHandle(workflowId).query<RunbookView>('status');
    });
  const sign = async (namespace: string, caller: Caller, payloads: ReturnType<typeof JSONToPayload>[]) =>
    Promise.all(
      payloads.map(async (p) => {
        const encoding = Buffer.from(p.metadata?.encoding ?? new Uint8Array()).toString('utf8');
        if (encoding !== 'json/plain' || !p.data) return p;
        let value: unknown;
        try {
          value = JSON.parse(Buffer.from(p.data).toString('utf8'));
        } catch {
          return p;
        }
        const req = verdictRequest(value);
        if (!req) return p;
        if (!caller.user) throw new HttpError(401, 'a verdict from the Web UI needs a logged-in user (OIDC token or the codec server login)');
        if (!signingKey) throw new HttpError(503, 'this codec server has no countersigning key (RUNBOOK_CODEC_SIGNING_KEY)');
        let proof;
        try {
          proof = countersign(signingKey, namespace, await statusOf(namespace, req.workflowId), req, caller as { user: string; login: 'oidc' | 'session' });
        } catch (err) {
          throw new HttpError(409, (err as Error).message);
        }
        const signed = { ...(value as object), approver: caller.user, ...(req.gate === undefined ? { operator: caller.user } : {}), proof };
        return { ...p, data: Buffer.from(JSON.stringify(signed)) };
      }),
    );

  let self = '';
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const origin = req.headers.origin;
    if (origin) {
      // Its own origin too: the login form posts from the codec server's page.
      if (!origins.includes(origin) && origin !== self)
        throw new HttpError(403, `origin ${origin} is not allowed (RUNBOOK_CODEC_UI_ORIGIN: ${origins.join(', ')})`);
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': ALLOWED_HEADERS,
        'Access-Control-Max-Age': '600',
      });
      res.end();
      return;
    }
    // The UI appends /decode and /encode to whatever endpoint it was given (and may add a query string).
    const url = new URL(req.url ?? '/', 'http://codec');
    const path = url.pathname.replace(/\/+$/, '');
    if (path.endsWith('/login') || path.endsWith('/logout') || path.endsWith('/whoami')) return session(req, res, path, url, origin);
    const op = path.endsWith('/decode') ? 'decode' : path.endsWith('/encode') ? 'encode' : undefined;
    if (!op) throw new HttpError(404, 'POST <endpoint>/decode or <endpoint>/encode');
    if (req.method !== 'POST') throw new HttpError(405, 'use POST');
    const caller = await auth.caller(req);
    if (!caller) throw new HttpError(401, 'not authenticated: log in to the codec server (/login) or pass the OIDC access token');
    let body: { payloads?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as { payloads?: unknown };
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(400, 'body is not JSON');
    }
    if (!body || !Array.isArray(body.payloads)) throw new HttpError(400, 'body must be {"payloads": [...]}');
    let payloads;
    try {
      payloads = (body.payloads as JSONPayload[]).map((p) => JSONToPayload(p));
    } catch (err) {
      throw new HttpError(400, `invalid payload: ${(err as Error).message}`);
    }
    let out;
    try {
      if (op === 'encode') payloads = await sign(req.headers['x-namespace']?.toString() || 'default', caller, payloads);
      out = !codec ? payloads : op === 'decode' ? await codec.decode(payloads) : await codec.encode(payloads);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(err instanceof CodecKeyError ? 422 : 500, `${op} failed: ${(err as Error).message}`);
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ payloads: out.map((p) => payloadToJSON(p)) }));
  };

  /** The codec server's own login, for installations without OIDC: a form, a session cookie, logout. */
  const session = async (req: IncomingMessage, res: ServerResponse, path: string, url: URL, origin: string | undefined): Promise<void> => {
    if (path.endsWith('/whoami')) {
      const c = await auth.caller(req);
      res.writeHead(c?.user ? 200 : 401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(c?.user ? { user: c.user, login: c.login } : { error: 'not logged in' }));
      return;
    }
    if (path.endsWith('/logout')) {
      auth.logout(req);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Set-Cookie': `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` });
      res.end('{"ok":true}');
      return;
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(LOGIN_FORM);
      return;
    }
    if (req.method !== 'POST') throw new HttpError(405, 'GET or POST /login');
    const body = await readBody(req);
    const form = (req.headers['content-type'] ?? '').includes('json')
      ? (JSON.parse(body) as Record<string, string>)
      : Object.fromEntries(new URLSearchParams(body));
    const id = typeof form.user === 'string' && typeof form.password === 'string' ? auth.login(form.user, form.password) : undefined;
    if (!id) throw new HttpError(401, 'wrong user or password');
    // Same site as the UI (both on this host): SameSite=Strict still goes with the UI's credentialed fetch.
    res.writeHead(200, { 'Content-Type': 'application/json', 'Set-Cookie': `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict` });
    res.end(JSON.stringify({ user: form.user, origin: origin ?? null, next: url.searchParams.get('next') }));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: message }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  self = `http://${host}:${addr.port}`;
  return {
    server,
    url: `http://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function main(): Promise<void> {
  let s: CodecServer;
  try {
    s = await startCodecServer();
  } catch (err) {
    if (err instanceof CodecKeyError) {
      console.error(`codec-server refuses to start: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const codec = payloadCodec() as AesGcmPayloadCodec | undefined;
  console.log(
    `codec-server: ${s.url} (${codec ? `encrypts with key id "${codec.encryptKeyId}", decrypts ${codec.keyIds.map((k) => `"${k}"`).join(', ')}` : 'no payload key: payloads pass through'})`,
  );
  console.log(`codec-server: in the Web UI, "Configure data encoder" → ${s.url}; CLI: temporal workflow show --codec-endpoint ${s.url} …`);
  console.log(
    `codec-server: log in at ${s.url}/login (RUNBOOK_CODEC_USERS_FILE) or pass the OIDC access token; UI origin ${process.env.RUNBOOK_CODEC_UI_ORIGIN ?? 'http://127.0.0.1:8233'}`,
  );
  const stop = (): void => void s.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
