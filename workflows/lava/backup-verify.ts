// lavaBackupVerify: the seed's rule "a backup not tested by restoring is not worth having". Restores the
// bundle's database dump into a scratch PostgreSQL started on the store for this alone (never the live
// server), compares row counts with the manifest, checks every file against its manifest checksum, and
// checks that every bundle of the same host holds the same set of files as the one tested. Anything off
// ends the run Failed with every reason, by file name; nothing on the store is changed.
import { z } from 'zod';
import { checkBundle, compareFileSets, findBundle, scratchRestore } from './backup-store.js';
import type { PipeResult } from '../../activities/ssh/pipe.js';
import { remote, stdoutOf, type CommandResult } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { LAVA_BUNDLE_ROOT } from './master-backup.js';
import { call, runbook, step, type RunContext } from '../engine/runbook.js';

export const LavaBackupVerifyInput = () =>
  z.strictObject({
    store: hostName(),
    /** "latest" (the newest sealed master bundle on the store), or a bundle path as a backup run returned it. */
    bundle: z
      .string()
      .regex(
        /^(latest|backups\/lava(-worker)?\/[a-z0-9][a-z0-9.-]{0,62}\/[0-9]{8}T[0-9]{6}Z(-[a-z0-9-]+)?)$/,
        '"latest" or a bundle path such as backups/lava/<master>/<stamp> or backups/lava-worker/<worker>/<stamp>',
      )
      .default('latest'),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof LavaBackupVerifyInput>>;

interface Found {
  bundle: string;
  siblings: string[];
}
interface Checked {
  problems: string[];
  files: number;
  manifest: { rows?: Record<string, number>; database?: { user: string }; createdAt?: string; encryption?: { tool: string } };
}
interface Restored {
  server: string;
  restored: boolean;
  error?: string;
  rows?: Record<string, number | null>;
}
interface FileSets {
  compared: number;
  differ: number;
  diffs: { bundle: string; missing: string[]; extra: string[] }[];
}

const json = <T>(r: CommandResult[]): T => JSON.parse(stdoutOf(r)) as T;
const encrypted = (ctx: RunContext<Input>): boolean => (ctx.get<Checked>('checksums').manifest.encryption?.tool ?? 'none') === 'age';
/** A master bundle has a dump and row counts to compare; a worker bundle has neither. */
const hasDump = (ctx: RunContext<Input>): boolean => Boolean(ctx.get<Checked>('checksums').manifest.database && ctx.get<Checked>('checksums').manifest.rows);
/** The scratch restore's answer, from whichever of the two restore steps ran (none for a worker bundle). */
function restoreResult(ctx: RunContext<Input>): Restored | undefined {
  if ('restore' in ctx.results) return ctx.results['restore'] as Restored;
  const piped = ctx.results['restore pipe'] as PipeResult | undefined;
  return piped ? (JSON.parse(piped.toStdoutTail) as Restored) : undefined;
}
const restoreArgs = (ctx: RunContext<Input>, dump: string) => {
  const m = ctx.get<Checked>('checksums').manifest;
  return scratchRestore(ctx.input.store, dump, m.database!.user, Object.keys(m.rows!));
};

/** Every reason the bundle is not a backup to rely on, in words an SRE can act on. */
export function findings(ctx: RunContext<Input>): string[] {
  const checked = ctx.get<Checked>('checksums');
  const restore = restoreResult(ctx);
  const sets = ctx.get<FileSets>('file sets');
  const out = [...checked.problems];
  const expected = checked.manifest.rows ?? {};
  if (restore && !restore.restored) out.push(`lava-server.sql does not restore into a scratch database: ${restore.error ?? 'unknown error'}`);
  for (const [table, want] of Object.entries(restore?.restored ? expected : {})) {
    const got = restore!.rows?.[table];
    if (got !== want) out.push(`${table}: ${got ?? 'no'} rows restored, the manifest says ${want}`);
  }
  for (const d of sets.diffs) {
    const parts = [d.missing.length ? `lacks ${d.missing.join(', ')}` : '', d.extra.length ? `has extra ${d.extra.join(', ')}` : ''].filter(Boolean);
    out.push(`bundle ${d.bundle} ${parts.join(' and ')} (compared with the tested bundle)`);
  }
  if (sets.differ > sets.diffs.length) out.push(`… and ${sets.differ - sets.diffs.length} more bundles with a different set of files`);
  return out;
}

export const lavaBackupVerify = runbook({
  name: 'lavaBackupVerify',
  input: LavaBackupVerifyInput,
  hosts: (i) => [i.store],
  // Read-only on the store's bundles; the scratch cluster lives in a temporary directory of its own.
  leases: () => [],
  steps: (i) => [
    step('find the bundle', () => findBundle(i.store, LAVA_BUNDLE_ROOT, i.bundle), { idempotent: true, readOnly: true, as: 'found', parse: json<Found> }),
    step('check every file against the manifest', (ctx) => checkBundle(i.store, ctx.get<Found>('found').bundle), {
      idempotent: true,
      readOnly: true,
      as: 'checksums',
      parse: json<Checked>,
    }),
    step('restore the dump into a scratch database', (ctx) => restoreArgs(ctx, `${ctx.get<Found>('found').bundle}/lava-server.sql`), {
      idempotent: true,
      readOnly: true,
      as: 'restore',
      timeout: '6 hours',
      when: (ctx) => hasDump(ctx) && !encrypted(ctx),
      parse: json<Restored>,
    }),
    // Encrypted at rest: the store cannot read its own bundle. The worker decrypts with its identity file
    // on the way from the store's file to the store's scratch server; plaintext never lands on disk.
    call<Input>(
      'restore the encrypted dump into a scratch database',
      'pipeCommands',
      (ctx) => ({
        from: remote(i.store, ['cat', `${ctx.get<Found>('found').bundle}/lava-server.sql.age`]),
        to: restoreArgs(ctx, '-'),
        step: 'restore the encrypted dump into a scratch database',
        transform: { decrypt: true },
      }),
      (ctx) => [`${i.store}$ cat ${ctx.get<Found>('found').bundle}/lava-server.sql.age | worker$ age --decrypt | ${i.store}$ scratch restore`],
      { idempotent: true, readOnly: true, as: 'restore pipe', timeout: '6 hours', when: (ctx) => hasDump(ctx) && encrypted(ctx) },
    ),
    step('compare the files of every bundle', (ctx) => compareFileSets(i.store, ctx.get<Found>('found').bundle, ctx.get<Found>('found').siblings), {
      idempotent: true,
      readOnly: true,
      as: 'file sets',
      parse: json<FileSets>,
    }),
    step('judge', () => [], {
      idempotent: true,
      readOnly: true,
      verdict: true,
      parse: (_r, ctx) => findings(ctx),
      expect: (v) => ((v as string[]).length ? `the backup does not check out: ${(v as string[]).join('; ')}` : undefined),
    }),
  ],
  output: (ctx) => {
    const found = ctx.get<Found>('found');
    const restore = restoreResult(ctx);
    return {
      bundle: found.bundle,
      files: ctx.get<Checked>('checksums').files,
      restoredRows: restore?.rows,
      scratchServer: restore?.server,
      bundlesCompared: ctx.get<FileSets>('file sets').compared + 1,
    };
  },
});
