// rearPrepareStore: the ReaR seed's backup store preparation ("useradd -m -g backup -d /data/backup backup;
// echo backup:backup | chpasswd"), without its password: a system user with no login shell and no password
// ("*" in shadow), the directory owned by it (0750), and the controllers' public keys as its only way in (what
// ReaR's sftp OUTPUT_URL and sshfs BACKUP_URL then use). The store's sshd must serve sftp in-process
// (internal-sftp): a nologin user cannot start the sftp-server program through its shell; that is checked. Every change is conditional on what the store shows, so a
// second run changes nothing and says so. A user that already exists (Debian ships `backup`) keeps its
// home; its shell and password are still enforced.
import { z } from 'zod';
import { remote, stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { runbook, step, type RunContext } from '../engine/runbook.js';

export const systemUser = () => z.string().regex(/^[a-z_][a-z0-9_-]{0,30}$/, 'a system user name (lower-case letters, digits, "_", "-")');
export const storePath = () =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'an absolute path (letters, digits, "._-/")')
    .refine((p) => !p.split('/').includes('..') && p !== '/' && !p.endsWith('/'), 'no "..", not "/", no trailing "/"');
/** A public key line (never a private key: those never enter input or history). */
export const publicKey = () =>
  z.string().regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]{40,}={0,3}( [A-Za-z0-9@._-]{1,100})?$/, 'an OpenSSH public key line');

export const RearPrepareStoreInput = () =>
  z.strictObject({
    store: hostName(),
    user: systemUser().default('backup'),
    path: storePath().default('/data/backup'),
    /** Public keys of the controllers' root accounts (ReaR runs as root there). */
    authorizedKeys: z.array(publicKey()).max(100).default([]),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof RearPrepareStoreInput>>;
type Ctx = RunContext<Input>;

interface StoreState {
  user?: { uid: number; gid: number; home: string; shell: string };
  group: boolean;
  password: string;
  dir?: { owner: string; mode: string };
  keys: string;
  availableBytes: number;
}

/** One read of everything the steps decide on; sections separated by marker lines. */
const READ = [
  'echo @user; getent passwd "$1" || true',
  'echo @group; getent group "$1" || true',
  // The kind of password only, never the hash: "none" is "*" (no password works), "locked" starts with "!".
  `echo @password; case "$(getent shadow "$1" | cut -d: -f2)" in '*') echo none;; '!'*) echo locked;; '') echo empty;; *) echo set;; esac`,
  'echo @dir; stat -c "%U:%G %a" "$2" 2>/dev/null || true',
  'echo @keys; h=$(getent passwd "$1" | cut -d: -f6); [ -n "$h" ] && cat "$h/.ssh/authorized_keys" 2>/dev/null || true',
  'echo @df; d=$2; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; df -B1 --output=avail "$d" | tail -n1',
].join('\n');

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

/**
 * The effective sshd settings for the user, from the sshd that serves this host (the listener in this UTS
 * namespace names its config with -f; else the system's): does sftp run inside sshd, without the user's shell?
 */
const SFTP_CHECK = [
  'me=$(readlink /proc/self/ns/uts); cfg=/etc/ssh/sshd_config',
  'for p in $(pgrep -x sshd); do',
  '  [ "$(readlink /proc/$p/ns/uts)" = "$me" ] || continue',
  '  t=$(tr "\\0" " " < /proc/$p/cmdline)',
  '  case "$t" in *listener*) c=$(printf "%s\\n" "$t" | sed -n "s/.* -f \\([^ ]*\\).*/\\1/p"); [ -n "$c" ] && cfg=$c; break;; esac',
  'done',
  'sshd -T -f "$cfg" -C "user=$1,host=rear-store-check,addr=127.0.0.1" | grep -Ei "^(subsystem|forcecommand) " || true',
].join('\n');

const NOLOGIN = '/usr/sbin/nologin';
const wantedKeys = (i: Input): string => i.authorizedKeys.join('\n');

type Change = 'group' | 'user' | 'shell' | 'password' | 'directory' | 'keys';

/** What the store lacks, from one read of it: the steps run exactly these, the output reports them. */
export function changesNeeded(i: Input, s: StoreState): Change[] {
  const c: Change[] = [];
  if (!s.user && !s.group) c.push('group');
  if (!s.user) c.push('user');
  if (s.user && s.user.shell !== NOLOGIN) c.push('shell');
  if (!s.user || s.password !== 'none') c.push('password');
  if (s.dir?.owner !== `${i.user}:${i.user}` || s.dir.mode !== '750') c.push('directory');
  if (i.authorizedKeys.length > 0 && s.keys.split('\n').filter(Boolean).join('\n') !== wantedKeys(i)) c.push('keys');
  return c;
}
const needs =
  (c: Change) =>
  (ctx: Ctx): boolean =>
    changesNeeded(ctx.input, ctx.get<StoreState>('before')).includes(c);

export const rearPrepareStore = runbook({
  name: 'rearPrepareStore',
  input: RearPrepareStoreInput,
  hosts: (i) => [i.store],
  leases: (i) => [i.store],
  steps: (i) => [
    step('read the store', () => remote(i.store, ['sh', '-c', READ, 'read-store', i.user, i.path], { sudo: true }), {
      idempotent: true,
      readOnly: true,
      as: 'before',
      parse: (r) => parseStore(stdoutOf(r)),
    }),
    step('create the group', () => remote(i.store, ['groupadd', '--system', i.user], { sudo: true }), {
      idempotent: true,
      when: needs('group'),
    }),
    step(
      'create the user (no login shell, no home of its own)',
      () => remote(i.store, ['useradd', '--system', '--gid', i.user, '--home-dir', i.path, '--no-create-home', '--shell', NOLOGIN, i.user], { sudo: true }),
      {
        idempotent: true,
        when: needs('user'),
      },
    ),
    step('take away the login shell', () => remote(i.store, ['usermod', '--shell', NOLOGIN, i.user], { sudo: true }), {
      idempotent: true,
      when: needs('shell'),
    }),
    // A password (the seed's backup:backup) is a way in that keys make unnecessary. "*", not `passwd --lock`:
    // its "!" makes sshd without PAM refuse the account as locked even for key logins, so ReaR's upload never gets in.
    step('remove the password ("*": no password works)', () => remote(i.store, ['usermod', '--password', '*', i.user], { sudo: true }), {
      idempotent: true,
      when: needs('password'),
    }),
    step(
      'create the backup directory (owner only, group read)',
      () => remote(i.store, ['install', '-d', '-o', i.user, '-g', i.user, '-m', '0750', i.path], { sudo: true }),
      {
        idempotent: true,
        when: needs('directory'),
      },
    ),
    step(
      "install the controllers' public keys",
      () =>
        remote(
          i.store,
          [
            'sh',
            '-c',
            'h=$(getent passwd "$1" | cut -d: -f6) && install -d -o "$1" -g "$1" -m 0700 "$h/.ssh" && install -o "$1" -g "$1" -m 0600 /dev/stdin "$h/.ssh/authorized_keys"',
            'install-keys',
            i.user,
          ],
          { sudo: true, stdin: `${wantedKeys(i)}\n` },
        ),
      {
        idempotent: true,
        when: needs('keys'),
      },
    ),
    step('check that the store serves sftp without a shell', () => remote(i.store, ['sh', '-c', SFTP_CHECK, 'sftp-check', i.user], { sudo: true }), {
      idempotent: true,
      readOnly: true,
      as: 'sftp',
      parse: (r) => stdoutOf(r).trim().toLowerCase(),
      expect: (v) =>
        /^(subsystem sftp internal-sftp|forcecommand internal-sftp)$/m.test(v as string)
          ? undefined
          : `the store's sshd would start sftp for ${i.user} through its shell (${NOLOGIN}), which refuses: add "Match User ${i.user}" / "ForceCommand internal-sftp" to its sshd_config (sshd -T says: ${(v as string).replace(/\n/g, '; ')})`,
    }),
    step('read the store again', () => remote(i.store, ['sh', '-c', READ, 'read-store', i.user, i.path], { sudo: true }), {
      idempotent: true,
      readOnly: true,
      as: 'after',
      parse: (r) => parseStore(stdoutOf(r)),
      expect: (v) => {
        const s = v as StoreState;
        if (s.user?.shell !== NOLOGIN) return `${i.user} still has the login shell ${s.user?.shell ?? '(no user)'}`;
        if (s.password !== 'none') return `${i.user} still has a password field of kind "${s.password}" (want "*")`;
        if (s.dir?.owner !== `${i.user}:${i.user}` || s.dir.mode !== '750') return `${i.path} is ${s.dir ? `${s.dir.owner} ${s.dir.mode}` : 'missing'}`;
        return undefined;
      },
    }),
  ],
  output: (ctx) => {
    const after = ctx.get<StoreState>('after');
    const changed = changesNeeded(ctx.input, ctx.get<StoreState>('before'));
    return {
      store: ctx.input.store,
      user: ctx.input.user,
      path: ctx.input.path,
      changed,
      summary: changed.length ? `changed: ${changed.join(', ')}` : 'no change: the store was already prepared',
      home: after.user?.home,
      shell: after.user?.shell,
      availableBytes: after.availableBytes,
      keys: ctx.input.authorizedKeys.length,
    };
  },
});
