// `npm run codec-server`: the codec server the Temporal Web UI (and `temporal --codec-endpoint`) calls to show
// encrypted payloads decoded (POST <endpoint>/decode) and to encrypt what an operator sends from the UI:
// signals, Updates (approvals) and starts (POST <endpoint>/encode). node:http only, 127.0.0.1 only.
//
// Body both ways: {"payloads":[{"metadata":{"<key>":"<base64>"},"data":"<base64>"}]}.
// Keys: the worker's (RUNBOOK_CODEC_KEYS_FILE or RUNBOOK_CODEC_KEY_ID + RUNBOOK_CODEC_KEY). Port:
// RUNBOOK_CODEC_PORT (8888). RUNBOOK_CODEC_AUTH_TOKEN set: every request needs `Authorization: Bearer <token>`.
// CORS: any loopback origin (the UI on 127.0.0.1:8233, a test UI on another port) may call it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { PayloadCodec } from '@temporalio/common';
import { JSONToPayload, payloadToJSON, type JSONPayload } from '@temporalio/common/lib/proto-utils.js';
import { CodecKeyError, payloadCodec, type AesGcmPayloadCodec } from '../workers/payload-codec.js';

export const DEFAULT_CODEC_PORT = 8888;
const MAX_BODY = 64 * 1024 * 1024;
const ALLOWED_HEADERS = 'content-type, x-namespace, authorization';

export interface CodecServerOptions {
  port?: number;
  host?: string;
  /** Default: the codec configured in the environment (an error if none is). */
  codec?: PayloadCodec;
  /** Default: RUNBOOK_CODEC_AUTH_TOKEN; unset or empty = no auth. */
  authToken?: string;
}

export interface CodecServer {
  server: Server;
  /** e.g. http://127.0.0.1:8888 — give this to the UI (`--ui-codec-endpoint`); it appends /decode and /encode. */
  url: string;
  close(): Promise<void>;
}

/** http(s)://127.x.x.x, localhost or [::1], any port. */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
    return u.hostname === 'localhost' || u.hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(u.hostname);
  } catch {
    return false;
  }
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

function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const got = Buffer.from(req.headers.authorization ?? '');
  const want = Buffer.from(`Bearer ${token}`);
  return got.length === want.length && timingSafeEqual(got, want);
}

export async function startCodecServer(opts: CodecServerOptions = {}): Promise<CodecServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? Number(process.env.RUNBOOK_CODEC_PORT ?? DEFAULT_CODEC_PORT);
  const token = opts.authToken ?? (process.env.RUNBOOK_CODEC_AUTH_TOKEN || undefined);
  const codec = opts.codec ?? payloadCodec();
  if (!codec) throw new CodecKeyError('no key configured: set RUNBOOK_CODEC_KEYS_FILE (or RUNBOOK_CODEC_KEY_ID + RUNBOOK_CODEC_KEY)');

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const origin = req.headers.origin;
    if (origin) {
      if (!isLoopbackOrigin(origin)) throw new HttpError(403, `origin ${origin} is not allowed`);
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
    const path = new URL(req.url ?? '/', 'http://codec').pathname.replace(/\/+$/, '');
    const op = path.endsWith('/decode') ? 'decode' : path.endsWith('/encode') ? 'encode' : undefined;
    if (!op) throw new HttpError(404, 'POST <endpoint>/decode or <endpoint>/encode');
    if (req.method !== 'POST') throw new HttpError(405, 'use POST');
    if (!authorized(req, token)) throw new HttpError(401, 'missing or wrong Authorization bearer token');
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
      out = op === 'decode' ? await codec.decode(payloads) : await codec.encode(payloads);
    } catch (err) {
      throw new HttpError(err instanceof CodecKeyError ? 422 : 500, `${op} failed: ${(err as Error).message}`);
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ payloads: out.map((p) => payloadToJSON(p)) }));
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
  const codec = payloadCodec() as AesGcmPayloadCodec;
  console.log(`codec-server: ${s.url} (encrypts with key id "${codec.encryptKeyId}", decrypts ${codec.keyIds.map((k) => `"${k}"`).join(', ')})`);
  console.log(`codec-server: in the Web UI, "Configure data encoder" → ${s.url}; CLI: temporal workflow show --codec-endpoint ${s.url} …`);
  if (process.env.RUNBOOK_CODEC_AUTH_TOKEN) console.log('codec-server: requires Authorization: Bearer <RUNBOOK_CODEC_AUTH_TOKEN>');
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
