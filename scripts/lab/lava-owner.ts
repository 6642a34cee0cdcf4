// LAVA is machine-global (/etc/lava-server, /var/lib/lava-server, one set of daemons on :8000), while
// several labs can run side by side. So exactly one lab owns LAVA at a time, recorded here. When
// another lab calls lavaUp, LAVA changes hands: the running daemons are stopped, 00-database.yaml is
// re-pointed at the caller's PostgreSQL port, role and database are made there, migrated and seeded,
// and the daemons start again. The old lab's database is left as it was. lavaDown and lavaStatus of a
// lab that does not own LAVA leave the daemons alone / report them as not its own.
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LAVA_RUN_DIR } from './lava-daemons.js';

export const OWNER_FILE = path.join(LAVA_RUN_DIR, 'owner.json');

export interface LavaOwner {
  /** The owning lab's directory (absolute). */
  dir: string;
  pgPort: number;
  /** lava-server version the database was migrated for; an upgrade means migrating again. */
  version: string;
}

export async function readOwner(): Promise<LavaOwner | undefined> {
  try {
    const o = JSON.parse(await readFile(OWNER_FILE, 'utf8')) as Partial<LavaOwner>;
    if (typeof o.dir !== 'string' || typeof o.pgPort !== 'number' || typeof o.version !== 'string') return undefined;
    return { dir: o.dir, pgPort: o.pgPort, version: o.version };
  } catch {
    return undefined;
  }
}

export async function writeOwner(owner: LavaOwner): Promise<void> {
  const tmp = `${OWNER_FILE}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(owner)}\n`, { mode: 0o644 });
  await rename(tmp, OWNER_FILE);
}

export function sameOwner(a: LavaOwner | undefined, b: LavaOwner): boolean {
  return a !== undefined && a.dir === b.dir && a.pgPort === b.pgPort && a.version === b.version;
}
