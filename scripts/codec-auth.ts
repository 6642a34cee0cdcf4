// Who is calling the codec server. The Web UI sends the operator's OIDC access token ("Pass the user
// access token") or, where there is no OIDC, the session cookie of the codec server's own login
// ("Include cross-origin credentials"). The codec server then countersigns the verdicts that browser
// sends, naming that user, with its own SSH key, which the workers trust as `runbook-codec`.
import { execFileSync } from 'node:child_process';
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { RunbookView } from '../workflows/engine/messages.js';
import {
  canonicalStatement,
  COUNTERSIGN_NAMESPACE,
  PROOF_LIFETIME_MS,
  type Proof,
  type VerdictStatement,
  type VerdictWord,
} from '../workflows/engine/proofs.js';

export const SESSION_COOKIE = 'runbook_codec_session';
const SESSION_TTL_MS = 8 * 60 * 60 * 1000;

export interface OidcOptions {
  issuer: string;
  /** Default: the issuer's discovery document's jwks_uri. */
  jwksUrl?: string;
  audience?: string;
  /** The claim that is the approver's name (default preferred_username, then sub). */
  userClaim?: string;
}

export type Caller = { user: string; login: 'oidc' | 'session' } | { user?: undefined; login: 'token' | 'anonymous' };

/** scrypt$<salt>$<hash>, as scripts/lab-trust.ts writes it. */
export function passwordMatches(stored: string, password: string): boolean {
  const [kind, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64');
  const got = scryptSync(password, Buffer.from(salt, 'base64'), want.length);
  return timingSafeEqual(got, want);
}

export class CodecAuth {
  private readonly sessions = new Map<string, { user: string; until: number }>();
  private jwks?: JWTVerifyGetKey;

  constructor(
    readonly o: {
      /** user → scrypt hash file (the codec server's own login); read at each login. */
      usersFile?: string;
      oidc?: OidcOptions;
      /** A static bearer token for tools (decode and encode, never a countersignature). */
      token?: string;
      /** Explicitly no authentication (decode and encode for anyone, never a countersignature). */
      allowAnonymous?: boolean;
    },
  ) {}

  login(user: string, password: string): string | undefined {
    if (!this.o.usersFile) return undefined;
    const users = JSON.parse(readFileSync(this.o.usersFile, 'utf8')) as Record<string, string>;
    const stored = Object.hasOwn(users, user) ? users[user] : undefined;
    if (!stored || !passwordMatches(stored, password)) return undefined;
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { user, until: Date.now() + SESSION_TTL_MS });
    return id;
  }

  logout(req: IncomingMessage): void {
    const id = cookie(req, SESSION_COOKIE);
    if (id) this.sessions.delete(id);
  }

  /** The caller, or undefined when the request proves nobody (and anonymous access is not allowed). */
  async caller(req: IncomingMessage): Promise<Caller | undefined> {
    const id = cookie(req, SESSION_COOKIE);
    const s = id ? this.sessions.get(id) : undefined;
    if (s && s.until > Date.now() && this.o.usersFile && this.stillUser(s.user)) return { user: s.user, login: 'session' };
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer && this.o.token && safeEqual(bearer, this.o.token)) return { login: 'token' };
    if (bearer && this.o.oidc) {
      const user = await this.oidcUser(bearer).catch(() => undefined);
      if (user) return { user, login: 'oidc' };
    }
    return this.o.allowAnonymous ? { login: 'anonymous' } : undefined;
  }

  /** A user removed from the users file is logged out at once. */
  private stillUser(user: string): boolean {
    const users = JSON.parse(readFileSync(this.o.usersFile!, 'utf8')) as Record<string, string>;
    return Object.hasOwn(users, user);
  }

  private async oidcUser(token: string): Promise<string | undefined> {
    const o = this.o.oidc!;
    if (!this.jwks) {
      let url = o.jwksUrl;
      if (!url) {
        const d = (await (await fetch(`${o.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)).json()) as { jwks_uri?: string };
        url = d.jwks_uri;
      }
      if (!url) throw new Error('the issuer publishes no jwks_uri');
      this.jwks = createRemoteJWKSet(new URL(url));
    }
    const { payload } = await jwtVerify(token, this.jwks, { issuer: o.issuer, ...(o.audience ? { audience: o.audience } : {}) });
    const name = payload[o.userClaim ?? 'preferred_username'] ?? payload.sub;
    return typeof name === 'string' && name ? name : undefined;
  }
}

function safeEqual(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

export function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/**
 * A verdict or decision as the Web UI sends it: `{"workflowId", "gate", "verdict"?, "reason"}` or
 * `{"workflowId", "decision", "reason"}`, without a proof. Anything else is not ours to sign.
 */
export function verdictRequest(v: unknown): { workflowId: string; gate?: string; verdict: VerdictWord } | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.workflowId !== 'string' || o.proof !== undefined) return undefined;
  if (typeof o.gate === 'string') return { workflowId: o.workflowId, gate: o.gate, verdict: o.verdict === 'reject' ? 'reject' : 'approve' };
  if (typeof o.decision === 'string' && ['retry', 'skip', 'abort', 'restart'].includes(o.decision)) {
    return { workflowId: o.workflowId, verdict: o.decision as VerdictWord };
  }
  return undefined;
}

/** The countersigned proof for what the run shows open now, naming the logged-in user. */
export function countersign(
  key: string,
  namespace: string,
  v: RunbookView,
  req: { workflowId: string; gate?: string; verdict: VerdictWord },
  caller: { user: string; login: 'oidc' | 'session' },
): Proof {
  const now = Date.now();
  const times = { issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + PROOF_LIFETIME_MS).toISOString() };
  let st: VerdictStatement;
  if (req.gate !== undefined) {
    const g = v.openGate;
    if (!g || g.name !== req.gate) throw new Error(`gate "${req.gate}" is not open on ${req.workflowId}`);
    st = {
      namespace,
      workflowId: req.workflowId,
      runId: g.runId,
      gate: g.name,
      gateNonce: g.nonce,
      verdict: req.verdict,
      fingerprint: g.fingerprint,
      approver: caller.user,
      ...times,
    };
  } else {
    const p = v.parked;
    if (!p) throw new Error(`nothing is parked on ${req.workflowId}`);
    st = {
      namespace,
      workflowId: req.workflowId,
      runId: p.runId,
      gate: `step:${p.step}`,
      gateNonce: p.nonce,
      verdict: req.verdict,
      fingerprint: p.fingerprint,
      approver: caller.user,
      ...times,
    };
  }
  const statement = canonicalStatement(st);
  const signature = execFileSync('ssh-keygen', ['-Y', 'sign', '-f', key, '-n', COUNTERSIGN_NAMESPACE, '-q'], { input: statement, encoding: 'utf8' });
  return { kind: 'codec', statement, signature, login: caller.login };
}
