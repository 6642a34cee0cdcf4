// Every LAVA command the lab runs goes through here, with a clean environment: a PGPORT or
// LAVA_SETTINGS_* inherited from the caller's shell would silently point LAVA at another database.
import { execa } from 'execa';

export const LAVA_USER = 'lavaserver';
export const LAVA_SERVER = '/usr/bin/lava-server';

export const CLEAN_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

export interface ManageOptions {
  /** lavaserver for commands that write files gunicorn must own later (migrate, job output). */
  asUser?: typeof LAVA_USER;
  timeoutMs?: number;
}

/** `lava-server manage ARGS`; never rejects, the caller decides what a non-zero exit means. */
export function lavaManage(args: string[], opts: ManageOptions = {}) {
  const cmd = opts.asUser ? ['runuser', '-u', opts.asUser, '--', LAVA_SERVER] : [LAVA_SERVER];
  const [file, ...pre] = cmd as [string, ...string[]];
  return execa(file, [...pre, 'manage', ...args], {
    reject: false,
    stdin: 'ignore',
    // cwd /: lavaserver cannot enter the project tree, and Django resolves nothing relative to it.
    cwd: '/',
    env: CLEAN_ENV,
    extendEnv: false,
    timeout: opts.timeoutMs ?? 300000,
  });
}

/** Throws with the command's output (which never contains a secret: callers pass none). */
export async function lavaManageOk(args: string[], opts: ManageOptions = {}): Promise<string> {
  const r = await lavaManage(args, opts);
  if (r.exitCode !== 0) {
    throw new Error(`lava-server manage ${args.join(' ')} failed (rc=${r.exitCode}):\n${`${r.stdout}\n${r.stderr}`.trim().slice(-3000)}`);
  }
  return r.stdout;
}
