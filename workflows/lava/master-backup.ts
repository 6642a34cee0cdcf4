// lavaMasterBackup: LAVA's "Creating Backups" as a runbook. One self-contained, dated bundle per run on the
// backup store: the database dump, package versions and the exact .deb files, configuration, job output,
// and a manifest of every file's size and sha256. The bundle is built under <name>.partial and only
// renamed to its final name once the manifest checks out, so an interrupted backup never counts; a run that
// fails or is aborted leaves it as <name>.incomplete. Older bundles are pruned only after the new one has
// been checked file by file on the store.
import { z } from 'zod';
import type { PipeResult } from '../../activities/ssh/pipe.js';
import { stdoutOf, type RemoteCommand } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { change, read, runbook, type RunContext } from '../engine/runbook.js';
import { bundleStamp, freeBytes, makePrivateDir, receiveFile } from './backup-store.js';
import { encryptionTransform, isAge, json, markBundleIncomplete, readEncryption, sealCheckPrune, stream, streamedFiles } from './bundle-steps.js';
import { presence, storeSpaceProblem, tabPairs } from './checks.js';
import {
  baseSystem,
  downloadPackages,
  dumpDatabase,
  LAVA_CONFIG_PATHS,
  LAVA_JOB_OUTPUT,
  LAVA_LOG_PATHS,
  measureMaster,
  packageVersions,
  presentPaths,
  readDatabaseSettings,
  snapshotRows,
  tarLogs,
  tarPaths,
  type LavaDatabase,
} from './commands.js';

export const LavaMasterBackupInput = () =>
  z.strictObject({
    master: hostName(),
    store: hostName(),
    label: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, 'lower-case letters, digits and "-"')
      .optional(),
    /** Sealed bundles to keep on the store (older ones are removed after the new one is sealed). */
    keep: z.number().int().min(1).max(365).default(7),
    /** Bandwidth cap for each stream master → store, in MiB/s (the master's disk and link are shared). */
    bandwidthMiBps: z.number().positive().max(10_000).optional(),
    /**
     * pg_dump's compression of lava-server.dump: "default" (zlib), or "none", a larger bundle (about the
     * database's size) that restores about twice as fast: pg_restore inflates a table's data in one process.
     */
    dumpCompression: z.enum(['default', 'none']).default('default'),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof LavaMasterBackupInput>>;
type Ctx = RunContext<Input>;

/** Where LAVA master bundles live on the store (relative to the backup user's home). */
export const LAVA_BUNDLE_ROOT = 'backups/lava';
const MiB = 1024 * 1024;

export const lavaMasterBackup = runbook({
  name: 'lavaMasterBackup',
  input: LavaMasterBackupInput,
  hosts: (i) => [i.master, i.store],
  leases: (i) => [{ host: i.store, sharedPath: `${LAVA_BUNDLE_ROOT}/${i.master}` }],
  procedure: (i) => {
    const dir = `${LAVA_BUNDLE_ROOT}/${i.master}`;
    const sealedPath = (ctx: Ctx): string => `${dir}/${bundleStamp(ctx.startedAt)}${i.label ? `-${i.label}` : ''}`;
    const partial = (ctx: Ctx): string => `${sealedPath(ctx)}.partial`;

    const database = read('read database settings', () => readDatabaseSettings(i.master), { parse: json<LavaDatabase>() });
    const sizes = read('measure database and media', (ctx: Ctx) => measureMaster(i.master, database.value(ctx)), {
      parse: (r) => {
        const [dbBytes = NaN, mediaBytes = NaN] = stdoutOf(r).trim().split('\n').map(Number);
        return { dbBytes, mediaBytes };
      },
    });
    const versions = read('record package versions', () => packageVersions(i.master), {
      parse: (r) => tabPairs(stdoutOf(r)),
      expect: (v) => (v['lava-server'] ? undefined : 'lava-server is not installed on the master'),
    });
    const base = read('record base system', () => baseSystem(i.master), { parse: (r) => stdoutOf(r).trim().split('\n') });
    const config = read('find configuration files', () => presentPaths(i.master, LAVA_CONFIG_PATHS), { parse: (r) => presence(stdoutOf(r)) });
    const logs = read('find the service logs', () => presentPaths(i.master, LAVA_LOG_PATHS), { parse: (r) => presence(stdoutOf(r)) });
    const encryption = readEncryption<Input>();

    /** The file's name on the store: encrypted files say so. */
    const stored = (ctx: Ctx, file: string): string => (isAge(encryption.value(ctx)) ? `${file}.age` : file);
    // total: the measured size, so the step's heartbeat has a total and a time left (a dump is near the database's size).
    const toStore = (
      name: string,
      file: string,
      from: (ctx: Ctx) => RemoteCommand,
      total?: (ctx: Ctx) => number,
      expect?: (p: PipeResult) => string | undefined,
    ) =>
      change(
        name,
        (ctx: Ctx) =>
          stream(name, {
            from: from(ctx),
            ...(total && Number.isFinite(total(ctx)) ? { expectBytes: total(ctx) } : {}),
            to: receiveFile(i.store, `${partial(ctx)}/${stored(ctx, file)}`),
            limitBytesPerSecond: i.bandwidthMiBps ? Math.round(i.bandwidthMiBps * MiB) : undefined,
            transform: encryptionTransform(encryption.value(ctx)),
          }),
        { timeout: '4 hours', expect },
      );
    // Custom format (pg_restore runs no psql meta-commands); the row counts come from the dump's own snapshot.
    const dump = toStore(
      'dump the database',
      'lava-server.dump',
      (ctx) => dumpDatabase(i.master, database.value(ctx), i.dumpCompression),
      (ctx) => sizes.value(ctx).dbBytes,
      (p) => (snapshotRows(p.fromStderrTail) ? undefined : 'the dump printed no row counts of its snapshot'),
    );
    const rows = (ctx: Ctx): Record<string, number> => snapshotRows(dump.value(ctx).fromStderrTail) ?? {};
    const streams = [
      dump,
      toStore('fetch the exact .deb files', 'packages.tar', (ctx) => downloadPackages(i.master, versions.value(ctx))),
      toStore('archive the configuration', 'configuration.tar', (ctx) => tarPaths(i.master, config.value(ctx).present)),
      toStore(
        'archive the job output',
        'job-output.tar',
        () => tarPaths(i.master, [LAVA_JOB_OUTPUT]),
        (ctx) => sizes.value(ctx).mediaBytes,
      ),
      toStore('archive the service logs', 'service-logs.tar', (ctx) => tarLogs(i.master, logs.value(ctx).present)),
    ];
    const files = ['lava-server.dump', 'packages.tar', 'configuration.tar', 'job-output.tar', 'service-logs.tar'];

    const seal = sealCheckPrune<Input>(i.store, { partial, sealed: sealedPath, dir, keep: i.keep }, (ctx) => ({
      runbook: 'lavaMasterBackup',
      runbookVersion: 2,
      workflowId: ctx.workflowId,
      master: i.master,
      createdAt: ctx.startedAt.toISOString(),
      database: database.value(ctx),
      rows: rows(ctx),
      dumpFormat: 'custom',
      versions: versions.value(ctx),
      // Backported packages (~bpo) must come from the same backports suite on a restore.
      backports: Object.entries(versions.value(ctx))
        .filter(([, v]) => v.includes('~bpo'))
        .map(([p]) => p),
      base: base.value(ctx),
      configuration: config.value(ctx),
      logs: logs.value(ctx),
      encryption: encryption.value(ctx),
      // sha256 of each file as the master produced it (before encryption, if any).
      plaintext: Object.fromEntries(files.map((f, k) => [f, streams[k]!.value(ctx).sourceSha256])),
      files: streamedFiles(Object.fromEntries(files.map((f, k) => [stored(ctx, f), streams[k]!.value(ctx)]))),
    }));

    return {
      steps: [
        database,
        sizes,
        read('check free space on the store', () => freeBytes(i.store, dir), {
          parse: (r) => Number(stdoutOf(r).trim()),
          expect: (free, ctx) => storeSpaceProblem(i.store, free, sizes.value(ctx)),
        }),
        versions,
        base,
        config,
        logs,
        encryption,
        change('create the bundle directory', (ctx: Ctx) => makePrivateDir(i.store, partial(ctx))),
        ...streams,
        ...seal.steps,
      ],
      // An interrupted bundle is renamed *.incomplete (with the reason inside): never counted, never pruned
      // as if it were a backup, and no older bundle is touched.
      cleanup: [markBundleIncomplete<Input>(i.store, sealedPath)],
      output: (ctx) => ({
        bundle: seal.sealed.value(ctx).bundle,
        database: { bytes: dump.value(ctx).sourceBytes, sha256: dump.value(ctx).sourceSha256 },
        encrypted: encryption.value(ctx).tool !== 'none',
        rows: rows(ctx),
        versions: versions.value(ctx),
      }),
    };
  },
});
