// lavaMasterBackup: LAVA's "Creating Backups" as a runbook. One self-contained, dated bundle per run on the
// backup store: the database dump, package versions and the exact .deb files, configuration, job output,
// and a manifest of every file's size and sha256. The bundle is built under <name>.partial and only
// renamed to its final name once the manifest checks out, so an interrupted backup never counts; a run that
// fails or is aborted leaves it as <name>.incomplete. Older bundles are pruned only after the new one has
// been checked file by file on the store.
import { z } from 'zod';
import type { BackupEncryption } from '../../activities/store/encryption.js';
import type { PipeResult } from '../../activities/ssh/pipe.js';
import { describeCommand, stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { bundleStamp, freeBytes, makePrivateDir, receiveFile } from './backup-store.js';
import {
  baseSystem,
  downloadPackages,
  dumpDatabase,
  LAVA_CONFIG_PATHS,
  LAVA_JOB_OUTPUT,
  measureMaster,
  packageVersions,
  presence,
  presentPaths,
  readDatabaseSettings,
  rowCounts,
  tarPaths,
  type LavaDatabase,
} from './commands.js';
import { encryptionTransform, markBundleIncomplete, readEncryption, sealCheckPrune } from './bundle-steps.js';
import { call, runbook, step, type RunContext } from '../engine/runbook.js';

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
    ...common(),
  });
type Input = z.infer<ReturnType<typeof LavaMasterBackupInput>>;
type Ctx = RunContext<Input>;

/** Where LAVA master bundles live on the store (relative to the backup user's home). */
export const LAVA_BUNDLE_ROOT = 'backups/lava';
const bundleDir = (i: Input): string => `${LAVA_BUNDLE_ROOT}/${i.master}`;
const bundleName = (ctx: Ctx): string => bundleStamp(ctx.startedAt) + (ctx.input.label ? `-${ctx.input.label}` : '');
const partial = (ctx: Ctx): string => `${bundleDir(ctx.input)}/${bundleName(ctx)}.partial`;
const sealed = (ctx: Ctx): string => `${bundleDir(ctx.input)}/${bundleName(ctx)}`;
const MiB = 1024 * 1024;
const encryption = (ctx: Ctx): BackupEncryption => ctx.get<BackupEncryption>('encryption');
/** The file's name on the store: encrypted files say so. */
const stored = (ctx: Ctx, file: string): string => (encryption(ctx).tool === 'age' ? `${file}.age` : file);
const STREAMED = ['lava-server.sql', 'packages.tar', 'configuration.tar', 'job-output.tar'];
const db = (ctx: Ctx): LavaDatabase => ctx.get<LavaDatabase>('database');
const pipe = (name: string, from: (ctx: Ctx) => ReturnType<typeof dumpDatabase>, file: string) =>
  call<Input>(
    name,
    'pipeCommands',
    (ctx) => ({
      from: from(ctx),
      to: receiveFile(ctx.input.store, `${partial(ctx)}/${stored(ctx, file)}`),
      step: name,
      limitBytesPerSecond: ctx.input.bandwidthMiBps ? Math.round(ctx.input.bandwidthMiBps * MiB) : undefined,
      transform: encryptionTransform(encryption(ctx)),
    }),
    // A missing earlier result is shown as "depends on …" by the engine.
    (ctx) => [
      `${describeCommand(from(ctx))}${encryption(ctx).tool === 'age' ? ' | worker$ age --encrypt' : ''} | ${ctx.input.store}$ cat > ${partial(ctx)}/${stored(ctx, file)}`,
    ],
    { idempotent: true, as: file, timeout: '4 hours' },
  );

export const lavaMasterBackup = runbook({
  name: 'lavaMasterBackup',
  input: LavaMasterBackupInput,
  hosts: (i) => [i.master, i.store],
  leases: (i) => [i.store],
  steps: (i) => [
    step('read database settings', () => readDatabaseSettings(i.master), {
      idempotent: true,
      readOnly: true,
      as: 'database',
      parse: (r) => JSON.parse(stdoutOf(r)),
    }),
    step('measure database and media', (ctx) => measureMaster(i.master, db(ctx)), {
      idempotent: true,
      readOnly: true,
      as: 'sizes',
      parse: (r) => {
        const [dbBytes, mediaBytes] = stdoutOf(r).trim().split('\n').map(Number);
        return { dbBytes, mediaBytes };
      },
    }),
    step('check free space on the store', () => freeBytes(i.store, bundleDir(i)), {
      idempotent: true,
      readOnly: true,
      parse: (r) => Number(stdoutOf(r).trim()),
      // A plain SQL dump is usually smaller than the database on disk; twice the total leaves room.
      expect: (free, ctx) => {
        const s = ctx.get<{ dbBytes: number; mediaBytes: number }>('sizes');
        const need = 2 * (s.dbBytes + s.mediaBytes);
        return (free as number) < need ? `${i.store} has ${free} bytes free, the backup needs about ${need}` : undefined;
      },
    }),
    step('record row counts', (ctx) => rowCounts(i.master, db(ctx)), {
      idempotent: true,
      readOnly: true,
      as: 'rows',
      parse: (r) =>
        Object.fromEntries(
          stdoutOf(r)
            .trim()
            .split('\n')
            .map((l) => [l.split('|')[0], Number(l.split('|')[1])]),
        ),
    }),
    step('record package versions', () => packageVersions(i.master), {
      idempotent: true,
      readOnly: true,
      as: 'versions',
      parse: (r) =>
        Object.fromEntries(
          stdoutOf(r)
            .trim()
            .split('\n')
            .map((l) => l.split('\t') as [string, string]),
        ),
      expect: (v) => ((v as Record<string, string>)['lava-server'] ? undefined : 'lava-server is not installed on the master'),
    }),
    step('record base system', () => baseSystem(i.master), { idempotent: true, readOnly: true, as: 'base', parse: (r) => stdoutOf(r).trim().split('\n') }),
    step('find configuration files', () => presentPaths(i.master, LAVA_CONFIG_PATHS), {
      idempotent: true,
      readOnly: true,
      as: 'config',
      parse: (r) => presence(stdoutOf(r)),
    }),
    readEncryption<Input>(),
    step('create the bundle directory', (ctx) => makePrivateDir(i.store, partial(ctx)), { idempotent: true }),
    pipe('dump the database', (ctx) => dumpDatabase(i.master, db(ctx)), 'lava-server.sql'),
    pipe('fetch the exact .deb files', (ctx) => downloadPackages(i.master, ctx.get('versions')), 'packages.tar'),
    pipe('archive the configuration', (ctx) => tarPaths(i.master, ctx.get<{ present: string[] }>('config').present), 'configuration.tar'),
    pipe('archive the job output', () => tarPaths(i.master, [LAVA_JOB_OUTPUT]), 'job-output.tar'),
    ...sealCheckPrune<Input>(i.store, { partial, sealed, dir: bundleDir(i), keep: i.keep }, (ctx) => ({
      runbook: 'lavaMasterBackup',
      runbookVersion: 1,
      workflowId: ctx.workflowId,
      master: i.master,
      createdAt: ctx.startedAt.toISOString(),
      database: db(ctx),
      rows: ctx.get('rows'),
      versions: ctx.get('versions'),
      // Backported packages (~bpo) must come from the same backports suite on a restore.
      backports: Object.entries(ctx.get<Record<string, string>>('versions'))
        .filter(([, v]) => v.includes('~bpo'))
        .map(([p]) => p),
      base: ctx.get('base'),
      configuration: ctx.get('config'),
      encryption: encryption(ctx),
      // sha256 of each file as the master produced it (before encryption, if any).
      plaintext: Object.fromEntries(STREAMED.map((f) => [f, ctx.get<PipeResult>(f).sourceSha256])),
      streamed: Object.fromEntries(STREAMED.map((f) => [stored(ctx, f), ctx.get<PipeResult>(f).sha256])),
    })),
  ],
  // An interrupted bundle is renamed *.incomplete (with the reason inside): never counted, never pruned
  // as if it were a backup, and no older bundle is touched.
  cleanup: (i) => [markBundleIncomplete<Input>(i.store, sealed)],
  output: (ctx) => ({
    bundle: ctx.get<{ bundle: string }>('sealed').bundle,
    database: { bytes: ctx.get<PipeResult>('lava-server.sql').sourceBytes, sha256: ctx.get<PipeResult>('lava-server.sql').sourceSha256 },
    encrypted: encryption(ctx).tool !== 'none',
    rows: ctx.get('rows'),
    versions: ctx.get('versions'),
  }),
});
