// The backup store as rearPrepareStore reads and decides on it: input fields shared with rearBackup, the
// one read of the store (scripts/read-store.sh) parsed, what it lacks, and the checks after the changes.
// Pure functions of what the store printed: test/unit/rear.test.ts covers them.
import { z } from 'zod';

export const systemUser = () => z.string().regex(/^[a-z_][a-z0-9_-]{0,30}$/, 'a system user name (lower-case letters, digits, "_", "-")');
export const storePath = () =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'an absolute path (letters, digits, "._-/")')
    .refine((p) => !p.split('/').includes('..') && p !== '/' && !p.endsWith('/'), 'no "..", not "/", no trailing "/"');
/** A public key line (never a private key: those never enter input or history). */
export const publicKey = () =>
  z.string().regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]{40,}={0,3}( [A-Za-z0-9@._-]{1,100})?$/, 'an OpenSSH public key line');

/** What the store's decisions need of the input. */
export interface StoreWanted {
  user: string;
  path: string;
  authorizedKeys: string[];
}

export interface StoreState {
  user?: { uid: number; gid: number; home: string; shell: string };
  group: boolean;
  /** The kind of password field only ("none" for "*", "locked", "empty", "set"), never the hash. */
  password: string;
  dir?: { owner: string; mode: string };
  keys: string;
  availableBytes: number;
}

export const NOLOGIN = '/usr/sbin/nologin';

/** scripts/read-store.sh's output: sections after "@name" marker lines. */
export function parseStore(text: string): StoreState {
  const sec: Record<string, string[]> = {};
  let cur = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('@')) sec[(cur = line.slice(1))] = [];
    else if (cur && line !== '') sec[cur]!.push(line);
  }
  const pw = sec.user?.[0]?.split(':');
  const [owner = '', mode = ''] = (sec.dir?.[0] ?? '').split(' ');
  return {
    user: pw ? { uid: Number(pw[2]), gid: Number(pw[3]), home: pw[5] ?? '', shell: pw[6] ?? '' } : undefined,
    group: Boolean(sec.group?.length),
    password: sec.password?.[0] ?? '',
    dir: sec.dir?.length ? { owner, mode } : undefined,
    keys: (sec.keys ?? []).join('\n'),
    availableBytes: Number(sec.df?.[0] ?? 0),
  };
}

/** The store's authorized_keys: every key `restrict`ed (no pty, no forwarding through the nologin user; sftp still works). */
export const wantedKeys = (w: StoreWanted): string => w.authorizedKeys.map((k) => `restrict ${k}`).join('\n');

export type StoreChange = 'group' | 'user' | 'shell' | 'password' | 'directory' | 'keys';

/** What the store lacks, from one read of it: the steps run exactly these, the output reports them. */
export function changesNeeded(w: StoreWanted, s: StoreState): StoreChange[] {
  const c: StoreChange[] = [];
  if (!s.user && !s.group) c.push('group');
  if (!s.user) c.push('user');
  if (s.user && s.user.shell !== NOLOGIN) c.push('shell');
  if (!s.user || s.password !== 'none') c.push('password');
  if (s.dir?.owner !== `${w.user}:${w.user}` || s.dir.mode !== '750') c.push('directory');
  if (w.authorizedKeys.length > 0 && s.keys.split('\n').filter(Boolean).join('\n') !== wantedKeys(w)) c.push('keys');
  return c;
}

/** scripts/sftp-check.sh's lines (lower-cased): sftp must run inside sshd, a nologin user cannot start sftp-server. */
export function sftpRefusal(user: string, sshdSays: string): string | undefined {
  if (/^(subsystem sftp internal-sftp|forcecommand internal-sftp)$/m.test(sshdSays)) return undefined;
  return `the store's sshd would start sftp for ${user} through its shell (${NOLOGIN}), which refuses: add "Match User ${user}" / "ForceCommand internal-sftp" to its sshd_config (sshd -T says: ${sshdSays.replace(/\n/g, '; ')})`;
}

/** The second read of the store: what must hold once the changes ran. */
export function preparedRefusal(w: StoreWanted, s: StoreState): string | undefined {
  if (s.user?.shell !== NOLOGIN) return `${w.user} still has the login shell ${s.user?.shell ?? '(no user)'}`;
  if (s.password !== 'none') return `${w.user} still has a password field of kind "${s.password}" (want "*")`;
  if (s.dir?.owner !== `${w.user}:${w.user}` || s.dir.mode !== '750') return `${w.path} is ${s.dir ? `${s.dir.owner} ${s.dir.mode}` : 'missing'}`;
  return undefined;
}
