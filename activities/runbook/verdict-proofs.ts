// Verifies the proof a verdict or decision carries against the worker's trust as it is NOW (read at
// every call: a key removed from allowed_signers, or a chat user unmapped, stops counting for runs
// already parked). The workflow then binds the verified statement to its run and gate (proofs.ts).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { WorkerConfig } from '../../workers/config.js';
import {
  chatSignatureBase,
  chatTimestampRefusal,
  CODEC_PRINCIPAL,
  COUNTERSIGN_NAMESPACE,
  parseStatement,
  VERDICT_NAMESPACE,
  type Proof,
  type ProofCheck,
} from '../../workflows/engine/proofs.js';

/** The public key blob inside an armored SSHSIG (format: "SSHSIG", version, string publickey, …). */
export function signerKeyBlob(armored: string): Buffer | undefined {
  const b64 = armored.replace(/-----(BEGIN|END) SSH SIGNATURE-----/g, '').replace(/\s+/g, '');
  const blob = Buffer.from(b64, 'base64');
  if (blob.subarray(0, 6).toString('latin1') !== 'SSHSIG' || blob.length < 14) return undefined;
  const len = blob.readUInt32BE(10);
  const key = blob.subarray(14, 14 + len);
  return key.length === len ? key : undefined;
}

/** SHA256:<base64>, as ssh-keygen -l shows it: one key is one person, whatever names it is listed under. */
export function keyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Every name allowed_signers gives this key for this namespace, over all its lines. ssh-keygen's
 * find-principals stops at the first matching line, which would let one key sit under two names unseen.
 */
export function principalsOf(allowedSigners: string, key: Buffer, namespace: string): string[] {
  const want = key.toString('base64');
  const names: string[] = [];
  for (const raw of allowedSigners.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const tokens = line.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
    const at = tokens.findIndex((t, i) => i > 0 && /^(ssh-|ecdsa-sha2-|sk-)/.test(t));
    if (at < 0 || tokens[at + 1] !== want) continue;
    const options = tokens.slice(1, at).join(',');
    if (/cert-authority/.test(options)) continue;
    const ns = /namespaces="([^"]*)"/.exec(options);
    if (ns && !ns[1]!.split(',').includes(namespace)) continue;
    names.push(...tokens[0]!.replace(/^"|"$/g, '').split(','));
  }
  return [...new Set(names)];
}

async function sshVerify(
  signers: string,
  signature: string,
  message: string,
  principal: string | undefined,
  namespace: string,
): Promise<{ principal: string; key: string } | { reason: string }> {
  const key = signerKeyBlob(signature);
  if (!key) return { reason: 'the signature is not an SSH signature (ssh-keygen -Y sign)' };
  let who = principal;
  if (!who) {
    const names = principalsOf(readFileSync(signers, 'utf8'), key, namespace);
    if (names.length === 0) return { reason: 'the signing key is not in allowed_signers (unknown, or removed)' };
    if (names.length > 1) return { reason: `the signing key is listed under several names (${names.join(', ')}): one person, one name` };
    who = names[0]!;
  }
  const dir = mkdtempSync(join(tmpdir(), 'rb-proof-'));
  try {
    const sig = join(dir, 'sig');
    writeFileSync(sig, signature);
    const r = await execa('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', who, '-n', namespace, '-s', sig], { input: message, reject: false });
    if (r.exitCode !== 0) return { reason: `signature does not verify for "${who}": ${`${r.stderr || r.stdout}`.trim().slice(0, 200)}` };
    return { principal: who, key: keyFingerprint(key) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function verifyProof(config: WorkerConfig, proof: Proof, nowMs = Date.now()): Promise<ProofCheck> {
  if (!proof || typeof proof !== 'object') return { valid: false, reason: 'the proof is not an object' };
  const signers = config.approvals.allowedSigners;
  if (proof.kind === 'ssh' || proof.kind === 'codec') {
    if (typeof proof.statement !== 'string' || typeof proof.signature !== 'string')
      return { valid: false, reason: 'a signed proof is {"statement", "signature"}' };
    if (!signers) return { valid: false, reason: 'this worker has no allowed_signers file (approvals.allowedSigners)' };
    const st = parseStatement(proof.statement);
    if (typeof st === 'string') return { valid: false, reason: st };
    if (proof.kind === 'ssh') {
      const v = await sshVerify(signers, proof.signature, proof.statement, undefined, VERDICT_NAMESPACE);
      if ('reason' in v) return { valid: false, reason: v.reason };
      if (v.principal === CODEC_PRINCIPAL) return { valid: false, reason: 'a codec-server key signs only countersignatures' };
      if (st.approver !== v.principal) return { valid: false, reason: `the statement names "${st.approver}" but the key belongs to "${v.principal}"` };
      return { valid: true, statement: st, approver: v.principal, identity: `ssh key ${v.key}`, via: 'ssh' };
    }
    const v = await sshVerify(signers, proof.signature, proof.statement, CODEC_PRINCIPAL, COUNTERSIGN_NAMESPACE);
    if ('reason' in v) return { valid: false, reason: `not countersigned by a trusted codec server: ${v.reason}` };
    return { valid: true, statement: st, approver: st.approver, identity: `web user ${st.approver}`, via: 'web' };
  }
  if (proof.kind === 'chat') {
    const chat = config.approvals.chat;
    if (!chat.signingSecretFile) return { valid: false, reason: 'this worker has no chat signing secret (approvals.chat.signingSecretFile)' };
    if (typeof proof.body !== 'string' || typeof proof.timestamp !== 'string' || typeof proof.signature !== 'string') {
      return { valid: false, reason: 'a chat proof is {"body", "timestamp", "signature"}' };
    }
    const old = chatTimestampRefusal(proof.timestamp, nowMs);
    if (old) return { valid: false, reason: old };
    if (!chatSignatureValid(readFileSync(chat.signingSecretFile, 'utf8').trim(), proof.timestamp, proof.body, proof.signature)) {
      return { valid: false, reason: 'the chat callback signature does not match the signing secret' };
    }
    const action = chatAction(proof.body);
    if (typeof action === 'string') return { valid: false, reason: action };
    const approver = chat.users[action.user];
    if (!approver) return { valid: false, reason: `chat user ${action.user} is not mapped to an approver (approvals.chat.users)` };
    const st = parseStatement(action.value);
    if (typeof st === 'string') return { valid: false, reason: st };
    return { valid: true, statement: { ...st, approver }, approver, identity: `chat user ${action.user}`, via: 'chat' };
  }
  return { valid: false, reason: `unknown proof kind ${JSON.stringify((proof as { kind?: unknown }).kind)}` };
}

/** Slack's request signature: `v0=` + hex HMAC-SHA256 of v0:<timestamp>:<body> with the signing secret. */
export function chatSignatureValid(secret: string, timestamp: string, body: string, signature: string): boolean {
  const want = Buffer.from(`v0=${createHmac('sha256', secret).update(chatSignatureBase(timestamp, body)).digest('hex')}`);
  const got = Buffer.from(signature);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The user and the pressed button's value of a Slack interactive callback (`payload=<json>`, form-encoded). */
export function chatAction(body: string): { user: string; value: string; actionId: string } | string {
  const payload = new URLSearchParams(body).get('payload');
  if (!payload) return 'the chat callback has no payload';
  try {
    const p = JSON.parse(payload) as { user?: { id?: unknown }; actions?: { value?: unknown; action_id?: unknown }[] };
    const user = p.user?.id;
    const a = p.actions?.[0];
    if (typeof user !== 'string' || typeof a?.value !== 'string') return 'the chat callback names no user or action';
    return { user, value: a.value, actionId: typeof a.action_id === 'string' ? a.action_id : '' };
  } catch {
    return 'the chat callback payload is not JSON';
  }
}
