// The backup store as rearPrepareStore reads and decides on it: input fields shared with rearBackup, the
// one read of the store (scripts/read-store.sh) parsed, what it lacks, and the checks after the changes.
// Pure functions of what the store printed: test/unit/rear.test.ts covers them.
import { z } from 'zod';

export const systemUser = () =>
  z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,30}$/, 'a system user name (lower-case letters, digits, "_", "-")')
    .refine((u) => u !== 'root', 'not root: the store user loses its shell and password and gets only the given keys');

/** Directories the store user must never own (the path itself is re-owned and chmod'ed 0750). */
const SYSTEM_DIRS = [
  '/',
  '/etc',
  '/usr',
  '/boot',
  '/var',
  '/var/lib',
  '/var/log',
  '/var/spool',
  '/var/backups',
  '/root',
  '/home',
  '/srv',
  '/opt',
  '/mnt',
  '/media',
  '/tmp',
  '/var/tmp',
];
/** Trees whose every directory belongs to the system or to a user: nothing under them is a backup store. */
const SYSTEM_TREES = ['/etc', '/usr', '/boot', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/dev', '/proc', '/sys', '/run', '/root'];
const within = (p: string, dir: string): boolean => p === dir || p.startsWith(`${dir}/`);
export function systemPathRefusal(p: string): string | undefined {
  if (SYSTEM_DIRS.includes(p)) return `${p} is a system directory`;
  const tree = SYSTEM_TREES.find((t) => within(p, t));
  if (tree) return `${p} is inside ${tree}`;
  if (/^\/home\/[^/]+$/.test(p)) return `${p} is a user's home`;
  return undefined;
}
export const storePath = () =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'an absolute path (letters, digits, "._-/")')
    .refine((p) => !p.split('/').includes('..') && p !== '/' && !p.endsWith('/'), 'no "..", not "/", no trailing "/"')
    .superRefine((p, c) => {
      const why = systemPathRefusal(p);
      if (why) c.addIssue({ code: 'custom', message: `${why}: the backup directory is re-owned by the store user` });
    });
/** A public key line (never a private key: those never enter input or history). */
export const publicKey = () =>
  z.string().regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]{40,}={0,3}( [A-Za-z0-9@._-]{1,100})?$/, 'an OpenSSH public key line');

/** What the store's decisions need of the input. */
export interface StoreWanted {
  user: string;
  path: string;
  authorizedKeys: string[];
  /** The nodes' expected backup size in bytes (ISO and archive, all nodes): the free space must cover it. */
  expectedBytes?: number;
}

export interface StoreState {
  user?: { uid: number; gid: number; comment: string; home: string; shell: string; groups: string[] };
  /** The account the worker logs in as (sudo's SUDO_USER): never the store user. */
  login: string;
  /** Every other account's home: the backup directory must not be one of them or inside one. */
  homes: { user: string; home: string }[];
  /** Shells that /etc/shells lists: an account with one of them can log in. */
  shells: string[];
  group: boolean;
  /** The kind of password field only ("none" for "*", "locked", "empty", "set"), never the hash. */
  password: string;
  dir?: { owner: string; mode: string };
  keys: string;
  availableBytes: number;
}

export const NOLOGIN = '/usr/sbin/nologin';
/** The GECOS comment rearPrepareStore gives the user it creates: how a later run knows the account is its own. */
export const STORE_USER_COMMENT = 'ReaR backup store (runbooks rearPrepareStore)';
const ADMIN_GROUPS = ['sudo', 'wheel', 'admin', 'root', 'adm'];
const NO_SHELLS = ['/usr/sbin/nologin', '/sbin/nologin', '/bin/false', '/usr/bin/false', ''];

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
  const groups = (sec.groups?.[0] ?? '').split(' ').filter(Boolean);
  return {
    user: pw ? { uid: Number(pw[2]), gid: Number(pw[3]), comment: pw[4] ?? '', home: pw[5] ?? '', shell: pw[6] ?? '', groups } : undefined,
    login: sec.login?.[0] ?? '',
    homes: (sec.homes ?? []).map((l) => ({ user: l.split(':')[0] ?? '', home: l.split(':').slice(1).join(':') })),
    shells: sec.shells ?? [],
    group: Boolean(sec.group?.length),
    password: sec.password?.[0] ?? '',
    dir: sec.dir?.length ? { owner, mode } : undefined,
    keys: (sec.keys ?? []).join('\n'),
    availableBytes: Number(sec.df?.[0] ?? 0),
  };
}

/**
 * Whose account or whose directory the run would take over, from the first read (a verdict: nothing has
 * changed yet). The account: root, the worker's own login, an admin, or an existing account this runbook
 * did not create that can log in or belongs to the system (uid < 1000). The path: another account's home.
 */
export function targetRefusal(w: StoreWanted, s: StoreState): string | undefined {
  const u = s.user;
  if (w.user === s.login) return `user: ${w.user} is the account the worker logs in to the store as: it would be locked out`;
  if (u) {
    const ours = u.comment === STORE_USER_COMMENT;
    if (u.uid === 0) return `user: ${w.user} has uid 0 (root)`;
    const admin = u.groups.filter((g) => ADMIN_GROUPS.includes(g));
    if (admin.length) return `user: ${w.user} is in ${admin.join(', ')}: an administrator account is never a backup store user`;
    if (!ours && !NO_SHELLS.includes(u.shell) && (s.shells.includes(u.shell) || /sh$/.test(u.shell)))
      return `user: ${w.user} exists with the login shell ${u.shell} and was not created by rearPrepareStore: choose a new name`;
    if (!ours && u.uid < 1000)
      return `user: ${w.user} is an existing system account (uid ${u.uid}, home ${u.home}) not created by rearPrepareStore: choose a new name`;
  }
  const other = s.homes.find((h) => h.user !== w.user && h.home !== '/' && !h.home.startsWith('/nonexistent') && within(w.path, h.home));
  if (other) return `path: ${w.path} is ${other.home === w.path ? '' : 'inside '}the home of ${other.user} (${other.home})`;
  if (w.expectedBytes !== undefined && s.availableBytes < w.expectedBytes)
    return `path: ${s.availableBytes} bytes free where ${w.path} is, the nodes' backups need ${w.expectedBytes}`;
  return undefined;
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
