// Signed backup records: a LAVA bundle's manifest.json and ReaR's runbook-record.json are signed by the
// worker that wrote them (OpenSSH's `ssh-keygen -Y sign`, namespace "runbooks-backup") and checked by the
// worker that reads them, before anything is chosen, pruned or changed. Whoever can write to the store can
// still delete a bundle, but can no longer edit its versions, row counts or checksums, nor pass an old
// bundle off as the latest one: every record names the place it was written to (`location`), and "latest"
// is the newest signed `createdAt`, never the newest directory name.
// A human checks one by hand with the worker's public key (README, "Integrity").
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { RemoteCommand } from '../../workflows/engine/commands.js';
import type { WorkerConfig } from '../../workers/config.js';
import { effectiveArgv } from '../ssh/command.js';
import { remoteLine } from '../ssh/shell-quote.js';
import type { SshPool } from '../ssh/ssh.js';

export const SIGNING_NAMESPACE = 'runbooks-backup';
const PRINCIPAL = 'runbooks-worker';
/** A listing of many bundles is a few KB each; anything far beyond is not a listing of ours. */
const MAX_LISTING_BYTES = 16 * 1024 * 1024;

/** A record as written: its exact bytes and their signature (both go to the store side by side). */
export interface SignedText {
  text: string;
  signature: string;
  sha256: string;
}

/** One record as the store holds it, read by a listing program (base64, so any bytes survive JSON). */
export interface ListedRecord {
  path: string;
  text: string | null;
  signature: string | null;
  error?: string;
}

/** What the worker concluded about one record: `problem` unset means signed by a configured key, for `path`. */
export interface VerifiedRecord {
  path: string;
  problem?: string;
  /** sha256 of the record's bytes: later steps on the store refuse a record that is not these bytes. */
  sha256?: string;
  createdAt?: string;
}

export function signingKeyFile(config: WorkerConfig): string {
  return config.backups.signingKeyFile ?? join(config.dataDir, 'keys', 'bundle-signing');
}

/** The public keys a record may be signed with: the configured ones and this worker's own. */
export function allowedSigningKeys(config: WorkerConfig): string[] {
  const own = `${signingKeyFile(config)}.pub`;
  const keys = [...config.backups.signingPublicKeys, ...(existsSync(own) ? [readFileSync(own, 'utf8').trim()] : [])];
  return [...new Set(keys.map((k) => k.split(/\s+/).slice(0, 2).join(' ')).filter(Boolean))];
}

const invalidConfig = (message: string): ApplicationFailure => ApplicationFailure.create({ message, type: 'InvalidConfig', nonRetryable: true });

/** Signs a record's exact text with the worker's key. */
export async function signText(config: WorkerConfig, text: string): Promise<string> {
  const key = signingKeyFile(config);
  if (!existsSync(key)) {
    throw invalidConfig(
      `no backup signing key at ${key}: run scripts/setup.sh (it makes one for the lab) or set backups.signingKeyFile (RUNBOOK_BACKUP_SIGNING_KEY)`,
    );
  }
  const r = await execa('ssh-keygen', ['-q', '-Y', 'sign', '-f', key, '-n', SIGNING_NAMESPACE], { input: text, reject: false });
  if (r.exitCode !== 0) throw invalidConfig(`ssh-keygen -Y sign with ${key} failed: ${r.stderr.trim().slice(0, 300)}`);
  return r.stdout.endsWith('\n') ? r.stdout : `${r.stdout}\n`;
}

/** Whether `signature` is a good signature of `text` by one of `keys` (namespace runbooks-backup). */
export async function verifyText(keys: string[], text: string, signature: string): Promise<string | undefined> {
  if (!keys.length) return 'this worker has no backup signing public key configured (backups.signingPublicKeys)';
  const dir = mkdtempSync(join(tmpdir(), 'rb-backup-sig-'));
  try {
    writeFileSync(join(dir, 'allowed'), keys.map((k) => `${PRINCIPAL} namespaces="${SIGNING_NAMESPACE}" ${k}\n`).join(''));
    writeFileSync(join(dir, 'sig'), signature);
    const r = await execa('ssh-keygen', ['-Y', 'verify', '-f', join(dir, 'allowed'), '-I', PRINCIPAL, '-n', SIGNING_NAMESPACE, '-s', join(dir, 'sig')], {
      input: text,
      reject: false,
    });
    return r.exitCode === 0 ? undefined : 'the signature does not verify with any configured key (edited, or signed by another key)';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The checks of one listed record: signature, then that it names the place it was found at. */
export async function verifyListed(keys: string[], item: ListedRecord, file: string): Promise<VerifiedRecord> {
  const refuse = (problem: string): VerifiedRecord => ({ path: item.path, problem: `${item.path}: ${problem}` });
  if (item.error) return refuse(item.error);
  if (item.text === null) return refuse(`${file} is missing`);
  if (item.signature === null) return refuse(`${file}.sig is missing: the record is not signed (written before records were signed, or edited); refused`);
  const text = Buffer.from(item.text, 'base64').toString('utf8');
  const bad = await verifyText(keys, text, Buffer.from(item.signature, 'base64').toString('utf8'));
  if (bad) return refuse(`${file}: ${bad}`);
  let record: { location?: unknown; createdAt?: unknown };
  try {
    record = JSON.parse(text) as typeof record;
  } catch {
    return refuse(`${file} is signed but is not JSON`);
  }
  if (record.location !== item.path) return refuse(`${file} was signed for ${String(record.location)}, not for this place (a copy); refused`);
  const createdAt = typeof record.createdAt === 'string' && !Number.isNaN(Date.parse(record.createdAt)) ? record.createdAt : undefined;
  if (!createdAt) return refuse(`${file} has no creation time`);
  return { path: item.path, sha256: createHash('sha256').update(text).digest('hex'), createdAt };
}

export function makeSigningActivities(ssh: SshPool, config: WorkerConfig) {
  return {
    /** The record's text (what goes to the store byte for byte) and its signature. */
    async signBackupRecord({ record }: { record: Record<string, unknown> }): Promise<SignedText> {
      const text = `${JSON.stringify(record, null, 2)}\n`;
      return { text, signature: await signText(config, text), sha256: createHash('sha256').update(text).digest('hex') };
    },

    /**
     * Runs a listing program on the store (JSON: {"items": [ListedRecord…]}) and checks every record it
     * names. Newest signed creation time first; refused ones last, each with why.
     */
    async verifyBackupRecords({ list, file }: { list: RemoteCommand; file: string }): Promise<VerifiedRecord[]> {
      const keys = allowedSigningKeys(config);
      let out = '';
      let err = '';
      let size = 0;
      const outcome = await ssh.exec(list.host, remoteLine(effectiveArgv(list)), {
        stdout: (b) => {
          size += b.length;
          if (size <= MAX_LISTING_BYTES) out += b.toString('utf8');
        },
        stderr: (b) => (err = (err + b.toString('utf8')).slice(-2048)),
      });
      if (outcome.code !== 0 || size > MAX_LISTING_BYTES) {
        throw ApplicationFailure.create({
          message: `listing the records on ${list.host} failed: ${size > MAX_LISTING_BYTES ? 'the listing is too large' : err.trim().split('\n').pop() || `exit ${outcome.code}`}`,
          type: 'CommandFailed',
          nonRetryable: outcome.code !== null && outcome.code !== 255,
        });
      }
      const items = (JSON.parse(out) as { items: ListedRecord[] }).items;
      const verified = await Promise.all(items.map((it) => verifyListed(keys, it, file)));
      return verified.sort((a, b) => (a.problem ? 1 : 0) - (b.problem ? 1 : 0) || Date.parse(b.createdAt ?? '0') - Date.parse(a.createdAt ?? '0'));
    },
  };
}
