// One clean login user for every lab host. Root would do, but root's shell rc here costs ~100 ms per
// command; rbops has /bin/sh and nothing to source. It stays after `down`: it owns nothing secret and
// another lab on the machine may be using it.
import { mkdir, readFile, rename, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { execa } from 'execa';
import { LAB_USER, LAB_USER_HOME } from './layout.js';

const SUDOERS_FILE = '/etc/sudoers.d/runbooks-lab';
const SUDOERS_LINE = `${LAB_USER} ALL=(ALL) NOPASSWD: ALL\n`;

export interface LoginUser {
  uid: number;
  gid: number;
}

async function lookup(): Promise<LoginUser | undefined> {
  const r = await execa('getent', ['passwd', LAB_USER], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export async function ensureLoginUser(): Promise<LoginUser> {
  let user = await lookup();
  if (!user) {
    await mkdir('/var/lib/runbooks-lab', { recursive: true });
    const r = await execa('useradd', ['-r', '-m', '-d', LAB_USER_HOME, '-s', '/bin/sh', LAB_USER], { reject: false, stdin: 'ignore' });
    user = await lookup();
    // A lab starting at the same moment may have won the race; only a still-missing user is an error.
    if (!user) throw new Error(`useradd ${LAB_USER} failed: ${r.stderr || r.stdout}`);
  }
  // useradd -r leaves the password field "!", and with UsePAM no sshd refuses such an account as
  // locked even for key logins. "*" means "no password works", which is what we want.
  const shadow = await execa('getent', ['shadow', LAB_USER], { reject: false, stdin: 'ignore' });
  if (shadow.stdout.split(':')[1]?.startsWith('!')) {
    await execa('usermod', ['-p', '*', LAB_USER], { stdin: 'ignore' });
  }
  // Each host bind-mounts its own home over this path, so the mount point must exist.
  await mkdir(LAB_USER_HOME, { recursive: true });
  await ensureSudoers();
  return user;
}

async function ensureSudoers(): Promise<void> {
  try {
    const [content, st] = await Promise.all([readFile(SUDOERS_FILE, 'utf8'), stat(SUDOERS_FILE)]);
    if (content === SUDOERS_LINE && (st.mode & 0o777) === 0o440) return;
  } catch {
    // missing: write it below
  }
  // sudo skips sudoers.d entries containing a dot, so the temp file is inert until renamed.
  const tmp = `${SUDOERS_FILE}.tmp-${process.pid}`;
  await writeFile(tmp, SUDOERS_LINE, { mode: 0o440 });
  await chmod(tmp, 0o440);
  const check = await execa('visudo', ['-cf', tmp], { reject: false, stdin: 'ignore' });
  if (check.exitCode !== 0) {
    await rm(tmp, { force: true });
    throw new Error(`visudo rejected ${SUDOERS_FILE}: ${check.stderr || check.stdout}`);
  }
  await rename(tmp, SUDOERS_FILE);
}
