// One authenticated connection to a cloud: a Keystone v3 token (from X-Subject-Token) and the service
// catalog's nova and glance endpoints, reused until shortly before it expires. Requests are plain fetch with
// a bounded time; error messages carry method, path and the service's own message, never a credential.
import { ApplicationFailure } from '@temporalio/common';
import { authRequest, type CloudEntry } from './clouds.js';

/** One request may take this long; a poll heartbeats between requests (heartbeat timeout 20 s). */
const REQUEST_MS = 15_000;
/** Nova microversion: 2.45+ returns the new image's id from createImage; 2.47+ shows the flavor's name. */
const NOVA_VERSION = '2.47';

interface CatalogEntry {
  type: string;
  endpoints: { interface: string; region_id?: string; region?: string; url: string }[];
}

export interface Reply<T> {
  status: number;
  body: T;
  headers: Headers;
}

export type Service = 'compute' | 'image';

export class OpenstackSession {
  private token?: { value: string; expiresAt: number; endpoints: Record<Service, string> };

  constructor(
    readonly cloud: string,
    private readonly entry: CloudEntry,
    private readonly signal?: () => AbortSignal | undefined,
  ) {}

  private identityUrl(): string {
    const u = this.entry.auth.auth_url.replace(/\/+$/, '');
    return /\/v3$/.test(u) ? u : `${u}/v3`;
  }

  private async authenticate(): Promise<NonNullable<OpenstackSession['token']>> {
    if (this.token && this.token.expiresAt - Date.now() > 60_000) return this.token;
    const url = `${this.identityUrl()}/auth/tokens`;
    const res = await this.fetchBounded(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(authRequest(this.entry)) },
      'keystone POST /v3/auth/tokens',
    );
    if (res.status === 401 || res.status === 403) {
      throw ApplicationFailure.create({
        message: `cloud "${this.cloud}": Keystone refused the credentials of clouds.yaml (${res.status})`,
        type: 'InvalidConfig',
        nonRetryable: true,
      });
    }
    const body = (await res.json().catch(() => ({}))) as { token?: { expires_at?: string; catalog?: CatalogEntry[] } };
    const value = res.headers.get('x-subject-token');
    if (res.status !== 201 || !value || !body.token) throw httpFailure(`keystone POST /v3/auth/tokens`, res.status, body);
    const catalog = body.token.catalog ?? [];
    const endpoints = { compute: this.endpoint(catalog, 'compute'), image: this.endpoint(catalog, 'image') };
    this.token = { value, expiresAt: Date.parse(body.token.expires_at ?? '') || Date.now() + 3_600_000, endpoints };
    return this.token;
  }

  private endpoint(catalog: CatalogEntry[], type: Service): string {
    const iface = this.entry.interface ?? 'public';
    const region = this.entry.region_name;
    const e = catalog
      .filter((c) => c.type === type)
      .flatMap((c) => c.endpoints)
      .find((x) => x.interface === iface && (!region || x.region_id === region || x.region === region));
    if (!e) {
      throw ApplicationFailure.create({
        message: `cloud "${this.cloud}": the service catalog has no ${iface} ${type} endpoint${region ? ` in ${region}` : ''}`,
        type: 'InvalidConfig',
        nonRetryable: true,
      });
    }
    const url = e.url.replace(/\/+$/, '');
    // Glance's catalog URL is the service root; the v2 API lives under /v2.
    return type === 'image' && !/\/v2$/.test(url) ? `${url}/v2` : url;
  }

  /** A JSON request to nova or glance; `ok` lists the statuses the caller handles itself (e.g. 404, 409). */
  async request<T>(service: Service, method: string, path: string, body?: unknown, ok: number[] = []): Promise<Reply<T>> {
    for (let round = 0; ; round++) {
      const t = await this.authenticate();
      const headers: Record<string, string> = { 'x-auth-token': t.value, accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (service === 'compute') headers['openstack-api-version'] = `compute ${NOVA_VERSION}`;
      const what = `${service === 'compute' ? 'nova' : 'glance'} ${method} ${path.split('?')[0]}`;
      const res = await this.fetchBounded(
        `${t.endpoints[service]}${path}`,
        { method, headers, body: body === undefined ? undefined : JSON.stringify(body) },
        what,
      );
      // An expired or revoked token: authenticate once more, then give up.
      if (res.status === 401 && round === 0) {
        this.token = undefined;
        continue;
      }
      const text = await res.text();
      let parsed: unknown = undefined;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = text;
      }
      if ((res.status >= 200 && res.status < 300) || ok.includes(res.status)) return { status: res.status, body: parsed as T, headers: res.headers };
      throw httpFailure(what, res.status, parsed);
    }
  }

  /**
   * An image file's bytes to or from glance (`GET`/`PUT /images/{id}/file`), streamed: no JSON, no per-request
   * bound (a large image takes long); the caller bounds the whole transfer with `signal`.
   */
  async transfer(method: 'GET' | 'PUT', path: string, signal: AbortSignal, body?: ReadableStream<Uint8Array>): Promise<Response> {
    const t = await this.authenticate();
    const headers: Record<string, string> = { 'x-auth-token': t.value };
    if (body) headers['content-type'] = 'application/octet-stream';
    const what = `glance ${method} ${path}`;
    try {
      // duplex 'half': required by fetch for a streamed request body.
      const res = await fetch(`${t.endpoints.image}${path}`, { method, headers, body, signal, duplex: 'half' } as RequestInit);
      if (res.status >= 300) throw httpFailure(what, res.status, await res.text().catch(() => ''));
      return res;
    } catch (err) {
      if (err instanceof ApplicationFailure || signal.aborted) throw err;
      throw ApplicationFailure.create({ message: `${what}: ${(err as Error).message}`, type: 'CloudUnreachable' });
    }
  }

  private async fetchBounded(url: string, init: RequestInit, what: string): Promise<Response> {
    const cancel = this.signal?.();
    const signal = cancel ? AbortSignal.any([cancel, AbortSignal.timeout(REQUEST_MS)]) : AbortSignal.timeout(REQUEST_MS);
    try {
      return await fetch(url, { ...init, signal });
    } catch (err) {
      if (cancel?.aborted) throw err;
      // Unreachable or slow API: retryable; the step's retry policy bounds it.
      // fetch's own message is a bare "fetch failed": the cause says why (ECONNREFUSED, a closed socket, …).
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why =
        (err as Error).name === 'TimeoutError'
          ? `no answer within ${REQUEST_MS / 1000} s`
          : `${(err as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`;
      throw ApplicationFailure.create({ message: `${what}: ${why}`, type: 'CloudUnreachable' });
    }
  }
}

/** Nova wraps its message as {"conflictingRequest": {"message": …}}; glance and keystone differ again. */
function serviceMessage(body: unknown): string {
  if (typeof body === 'string')
    return body
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 300);
  if (body && typeof body === 'object') {
    const inner = Object.values(body as Record<string, unknown>)[0] as { message?: unknown } | undefined;
    if (inner && typeof inner === 'object' && typeof inner.message === 'string') return inner.message;
    if (typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  }
  return '';
}

function httpFailure(what: string, status: number, body: unknown): ApplicationFailure {
  const message = `${what} → ${status}${serviceMessage(body) ? `: ${serviceMessage(body)}` : ''}`;
  // 5xx and 429 may pass; any other 4xx is an answer that will not change on its own.
  const retryable = status >= 500 || status === 429;
  return ApplicationFailure.create({ message, type: status === 409 ? 'CloudConflict' : 'CloudRequestFailed', nonRetryable: !retryable });
}
