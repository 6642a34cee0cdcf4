// The lab's approval trust, so a newcomer can approve properly from the first `npm start`: an SSH key per
// lab approver (alice, bob, carol) and one for the codec server, the allowed_signers that maps them, codec
// login passwords (scrypt hashes for the codec server, the plain ones in a 0600 file for the newcomer),
// and a chat signing secret. Idempotent: kept keys and passwords are reused. Production sets up its own
// (README "Approvals"); none of this is used there.
import { execFileSync } from 'node:child_process';
import { randomBytes, scryptSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CODEC_PRINCIPAL, COUNTERSIGN_NAMESPACE, VERDICT_NAMESPACE } from '../workflows/engine/proofs.js';

export const LAB_APPROVERS = ['alice', 'bob', 'carol'];

export interface LabTrust {
  dir: string;
  allowedSigners: string;
  /** Private key file of each lab approver. */
  keys: Record<string, string>;
  codecKey: string;
  /** user → scrypt hash, for the codec server's own login. */
  codecUsers: string;
  passwords: Record<string, string>;
  chatSecretFile: string;
  /** Chat user id → approver (a stand-in for a Slack workspace's ids). */
  chatUsers: Record<string, string>;
}

function keyPair(path: string, comment: string): void {
  if (!existsSync(path)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
}

/** One scrypt hash line as the codec server reads it: scrypt$<salt b64>$<hash b64>. */
export function passwordHash(password: string, salt = randomBytes(16)): string {
  return `scrypt$${salt.toString('base64')}$${scryptSync(password, salt, 32).toString('base64')}`;
}

export function labTrust(dir = resolve('.data/lab-trust'), people = LAB_APPROVERS): LabTrust {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys: Record<string, string> = {};
  for (const who of people) {
    keys[who] = join(dir, who);
    keyPair(keys[who], `${who}@runbook-lab`);
  }
  const codecKey = join(dir, 'codec-server');
  keyPair(codecKey, 'codec-server@runbook-lab');
  const pub = (k: string): string => readFileSync(`${k}.pub`, 'utf8').trim();
  const allowedSigners = join(dir, 'allowed_signers');
  writeFileSync(
    allowedSigners,
    [
      ...people.map((who) => `${who} namespaces="${VERDICT_NAMESPACE}" ${pub(keys[who]!)}`),
      `${CODEC_PRINCIPAL} namespaces="${COUNTERSIGN_NAMESPACE}" ${pub(codecKey)}`,
      '',
    ].join('\n'),
  );
  const passwordFile = join(dir, 'passwords.json');
  const passwords: Record<string, string> = existsSync(passwordFile) ? JSON.parse(readFileSync(passwordFile, 'utf8')) : {};
  for (const who of people) passwords[who] ??= randomBytes(9).toString('base64url');
  writeFileSync(passwordFile, JSON.stringify(passwords, null, 2), { mode: 0o600 });
  const codecUsers = join(dir, 'codec-users.json');
  writeFileSync(codecUsers, JSON.stringify(Object.fromEntries(people.map((who) => [who, passwordHash(passwords[who]!)])), null, 2), { mode: 0o600 });
  const chatSecretFile = join(dir, 'chat-signing-secret');
  if (!existsSync(chatSecretFile)) writeFileSync(chatSecretFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const chatUsers = Object.fromEntries(people.map((who) => [`U${who.toUpperCase()}`, who]));
  return { dir, allowedSigners, keys, codecKey, codecUsers, passwords, chatSecretFile, chatUsers };
}
