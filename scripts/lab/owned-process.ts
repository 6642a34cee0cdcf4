// `down` may only stop what this lab started: other labs (other dirs) run the same binaries on the same
// machine. A pid counts as ours only while its command line still names this lab's config file, which
// also protects against a pidfile that outlived its process and whose pid was reused.
import { readFile, readlink, readdir, rm } from 'node:fs/promises';
import { waitFor } from './wait.js';

export async function readPidfile(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(file, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Alive means present and not a zombie: a zombie holds no port and no namespace any more. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export async function commandLine(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/** The pid from `pidfile` if that process is alive and its command line contains `marker`. */
export async function ownedPid(pidfile: string, marker: string): Promise<number | undefined> {
  const pid = await readPidfile(pidfile);
  if (pid === undefined || !(await isAlive(pid))) return undefined;
  const cmd = await commandLine(pid);
  return cmd?.includes(marker) ? pid : undefined;
}

async function namespaceIds(pid: number): Promise<string | undefined> {
  try {
    return `${await readlink(`/proc/${pid}/ns/mnt`)} ${await readlink(`/proc/${pid}/ns/uts`)}`;
  } catch {
    return undefined;
  }
}

/**
 * Every process sharing `pid`'s mount and UTS namespaces: the host's sshd plus its login sessions and
 * whatever they started. Empty when `pid` lives in our own namespaces (then "the namespace" is the
 * whole machine and must never be swept).
 */
export async function namespaceMembers(pid: number): Promise<number[]> {
  const ns = await namespaceIds(pid);
  if (ns === undefined || ns === (await namespaceIds(process.pid))) return [];
  const pids = (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
  const members: number[] = [];
  await Promise.all(
    pids.map(async (p) => {
      if ((await namespaceIds(p)) === ns) members.push(p);
    }),
  );
  return members;
}

/**
 * SIGTERM to `pid` and to everything in its private namespaces, then SIGKILL for what is still there
 * after `graceMs`. Session processes are found through the namespace because sshd puts each connection
 * in a new session, so they are neither in the listener's process group nor its session.
 */
export async function terminateTree(pid: number, graceMs = 5000): Promise<void> {
  const ns = await namespaceIds(pid);
  const victims = [...new Set([pid, ...(await namespaceMembers(pid))])];
  for (const p of victims) signal(p, 'SIGTERM');
  const allGone = async () => (await Promise.all(victims.map(isAlive))).every((a) => !a);
  try {
    await waitFor(`pid ${victims.join(',')} to exit`, allGone, { timeoutMs: graceMs });
  } catch {
    for (const p of victims) {
      // Re-check the namespace so a pid recycled in the meantime is left alone.
      if (p === pid || (ns !== undefined && (await namespaceIds(p)) === ns)) signal(p, 'SIGKILL');
    }
    await waitFor(`pid ${victims.join(',')} to exit after SIGKILL`, allGone, { timeoutMs: graceMs });
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export async function removeFile(file: string): Promise<void> {
  await rm(file, { force: true });
}
