// lavaBackupVerify: the seed's rule "a backup not tested by restoring is not worth having". Restores the
// bundle's database dump into a scratch PostgreSQL started on the store for this alone (never the live
// server), compares row counts with the manifest, checks every file against its manifest checksum, and
// checks that every bundle of the same host holds the same set of files as the one tested. Anything off
// ends the run Failed with every reason, by file name; nothing on the store is changed.
import { z } from 'zod';
import { remote } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { onlyIf, read, runbook, type RunContext } from '../engine/runbook.js';
import { checkBundle, compareFileSets, scratchRestore } from './backup-store.js';
import { findSignedBundle, json, stream } from './bundle-steps.js';
import { findings, hasDump, hasPlainSql, isEncrypted, type Checked, type FileSets, type Restored } from './checks.js';
import { LAVA_BUNDLE_ROOT } from './master-backup.js';

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
type Ctx = RunContext<Input>;

const RESTORE_TIME = '6 hours';

export const lavaBackupVerify = runbook({
  name: 'lavaBackupVerify',
  input: LavaBackupVerifyInput,
  hosts: (i) => [i.store],
  // Read-only on the store's bundles; the scratch cluster lives in a temporary directory of its own.
  leases: () => [],
  // Changes nothing and has no gate: a new build takes it over (a changed procedure needs patched(), the
  // replay tests catch a forgotten one).
  versioning: 'auto-upgrade',
  procedure: (i) => {
    // A manifest that is unsigned, edited or a copy ends the run at once (nothing else in it can be trusted);
    // unlike the restores' findCheckedBundle, a failed file check is one finding among others here.
    const found = findSignedBundle<Input>(i.store, LAVA_BUNDLE_ROOT, i.bundle);
    const checked = read(
      'check every file against the manifest',
      (ctx: Ctx) => checkBundle(i.store, found.value(ctx).bundle, found.value(ctx).manifestSha256),
      {
        parse: json<Checked>(),
      },
    );
    const restorable = (ctx: Ctx): boolean => hasDump(checked.value(ctx)) && !hasPlainSql(checked.value(ctx));
    const restoreInto = (ctx: Ctx, dump: string) => {
      const m = checked.value(ctx).manifest;
      return scratchRestore(i.store, dump, m.database?.user ?? '', Object.keys(m.rows ?? {}));
    };
    const plain = read('restore the dump into a scratch database', (ctx: Ctx) => restoreInto(ctx, `${found.value(ctx).bundle}/lava-server.dump`), {
      timeout: RESTORE_TIME,
      when: onlyIf('the bundle has a plain database dump', (ctx) => restorable(ctx) && !isEncrypted(checked.value(ctx))),
      parse: json<Restored>(),
    });
    // Encrypted at rest: the store cannot read its own bundle. The worker decrypts with its identity file
    // on the way from the store's file to the store's scratch server; plaintext never lands on disk.
    const name = 'restore the encrypted dump into a scratch database';
    const encrypted = read(
      name,
      (ctx: Ctx) =>
        stream(name, {
          from: remote(i.store, ['cat', `${found.value(ctx).bundle}/lava-server.dump.age`]),
          to: restoreInto(ctx, '-'),
          transform: { decrypt: true },
        }),
      {
        timeout: RESTORE_TIME,
        when: onlyIf('the bundle has an encrypted database dump', (ctx) => restorable(ctx) && isEncrypted(checked.value(ctx))),
        parse: (p) => JSON.parse(p.toStdoutTail) as Restored,
      },
    );
    /** The scratch restore's answer, from whichever of the two restore steps ran (none for a worker bundle). */
    const restored = (ctx: Ctx): Restored | undefined => plain.valueIfRan(ctx) ?? encrypted.valueIfRan(ctx);
    const sets = read('compare the files of every bundle', (ctx: Ctx) => compareFileSets(i.store, found.value(ctx).bundle, found.value(ctx).siblings), {
      parse: json<FileSets>(),
    });

    return {
      steps: [
        found,
        checked,
        plain,
        encrypted,
        sets,
        read('judge', () => [], {
          verdict: true,
          parse: (_r, ctx) => findings(checked.value(ctx), restored(ctx), sets.value(ctx)),
          expect: (v) => (v.length ? `the backup does not check out: ${v.join('; ')}` : undefined),
        }),
      ],
      output: (ctx) => ({
        bundle: found.value(ctx).bundle,
        files: checked.value(ctx).files,
        restoredRows: restored(ctx)?.rows,
        scratchServer: restored(ctx)?.server,
        bundlesCompared: sets.value(ctx).compared + 1,
      }),
    };
  },
});
