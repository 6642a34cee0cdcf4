// One `up`/`down` at a time per lab dir. Two concurrent `up`s (say, two test files sharing a lab) would
// otherwise both start an sshd per host; the loser dies on bind but its pid overwrites the pidfile,
// leaving the winner running and unmanaged.
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { isAlive } from './owned-process.js';
import { waitFor } from './wait.js';

const LOCK_WAIT_MS = 180000;

async function tryLock(file: string): Promise<boolean> {
  try {
    const fh = await open(file, 'wx', 0o644);
    await fh.writeFile(`${process.pid}\n`);
    await fh.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  // An empty file is a holder between open and write; anything else whose process is gone is stale.
  if (Number.isInteger(holder) && holder > 0 && !(await isAlive(holder))) await rm(file, { force: true });
  return false;
}

export async function withLabLock<T>(runDir: string, fn: () => Promise<T>): Promise<T> {
  const file = path.join(runDir, 'lab.lock');
  await waitFor(`the lab lock ${file} (another up/down on this dir)`, () => tryLock(file), {
    timeoutMs: LOCK_WAIT_MS,
    intervalMs: 100,
  });
  try {
    return await fn();
  } finally {
    await rm(file, { force: true });
  }
}
