// lavaMasterBackup: LAVA's "Creating Backups" as a runbook. One self-contained, dated bundle per run on the
// backup store: the database dump, package versions and the exact .deb files, configuration, job output,
// and a manifest of every file's size and sha256. The bundle is built under <name>.partial and only
// renamed to its final name once the manifest checks out, so an interrupted backup never counts.
import { z } from 'zod';
import type { PipeResult } from '../activities/pipe.js';
import { describeCommand, type CommandResult } from './commands.js';
import { common, hostName } from './input-fields.js';
import {
  baseSystem,
  downloadPackages,
  dumpDatabase,
  freeBytes,
  LAVA_CONFIG_PATHS,
  LAVA_JOB_OUTPUT,
  makePrivateDir,
  measureMaster,
  packageVersions,
  presentPaths,
  pruneBundles,
  readDatabaseSettings,
  receiveFile,
  rowCounts,
  sealBundle,
  tarPaths,
  type LavaDatabase,
} from './lava-commands.js';
import { call, runbook, step, type RunContext } from './runbook.js';

export const LavaMasterBackupInput = z.strictObject({
  master: hostName,
  store: hostName,
  label: z.string().regex(/^[a-z0-9-]{1,32}$/, 'lower-case letters, digits and "-"').optional(),
  /** Sealed bundles to keep on the store (older ones are removed after the new one is sealed). */
  keep: z.number().int().min(1).max(365).default(7),
  ...common,
});
type Input = z.infer<typeof LavaMasterBackupInput>;
type Ctx = RunContext<Input>;

const out = (r: CommandResult[]): string => r.map((x) => x.stdoutTail).join('');
const bundleDir = (i: Input): string => `backups/lava/${i.master}`;
const bundleName = (ctx: Ctx): string => ctx.startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z') + (ctx.input.label ? `-${ctx.input.label}` : '');
const partial = (ctx: Ctx): string => `${bundleDir(ctx.input)}/${bundleName(ctx)}.partial`;
const db = (ctx: Ctx): LavaDatabase => ctx.get<LavaDatabase>('database');
const pipe = (name: string, from: (ctx: Ctx) => ReturnType<typeof dumpDatabase>, file: string) =>
  call<Input>(
    name,
    'pipeCommands',
    (ctx) => ({ from: from(ctx), to: receiveFile(ctx.input.store, `${partial(ctx)}/${file}`), step: name }),
    // A missing earlier result is shown as "depends on …" by the engine.
    (ctx) => [`${describeCommand(from(ctx))} | ${ctx.input.store}$ cat > ${partial(ctx)}/${file}`],
    { idempotent: true, as: file, timeout: '4 hours' },
  );

export const lavaMasterBackup = runbook({
  name: 'lavaMasterBackup',
  input: LavaMasterBackupInput,
  hosts: (i) => [i.master, i.store],
  leases: (i) => [i.store],
  steps: (i) => [
    step('read database settings', () => readDatabaseSettings(i.master), { idempotent: true, readOnly: true, as: 'database', parse: (r) => JSON.parse(out(r)) }),
    step('measure database and media', (ctx) => measureMaster(i.master, db(ctx)), {
      idempotent: true,
      readOnly: true,
      as: 'sizes',
      parse: (r) => {
        const [dbBytes, mediaBytes] = out(r).trim().split('\n').map(Number);
        return { dbBytes, mediaBytes };
      },
    }),
    step('check free space on the store', () => freeBytes(i.store, bundleDir(i)), {
      idempotent: true,
      readOnly: true,
      parse: (r) => Number(out(r).trim()),
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
      parse: (r) => Object.fromEntries(out(r).trim().split('\n').map((l) => [l.split('|')[0], Number(l.split('|')[1])])),
    }),
    step('record package versions', () => packageVersions(i.master), {
      idempotent: true,
      readOnly: true,
      as: 'versions',
      parse: (r) => Object.fromEntries(out(r).trim().split('\n').map((l) => l.split('\t') as [string, string])),
      expect: (v) => ((v as Record<string, string>)['lava-server'] ? undefined : 'lava-server is not installed on the master'),
    }),
    step('record base system', () => baseSystem(i.master), { idempotent: true, readOnly: true, as: 'base', parse: (r) => out(r).trim().split('\n') }),
    step('find configuration files', () => presentPaths(i.master, LAVA_CONFIG_PATHS), {
      idempotent: true,
      readOnly: true,
      as: 'config',
      parse: (r) => {
        const lines = out(r).trim().split('\n');
        return { present: lines.filter((l) => l.startsWith('present ')).map((l) => l.slice(8)), absent: lines.filter((l) => l.startsWith('absent ')).map((l) => l.slice(7)) };
      },
    }),
    step('create the bundle directory', (ctx) => makePrivateDir(i.store, partial(ctx)), { idempotent: true }),
    pipe('dump the database', (ctx) => dumpDatabase(i.master, db(ctx)), 'lava-server.sql'),
    pipe('fetch the exact .deb files', (ctx) => downloadPackages(i.master, ctx.get('versions')), 'packages.tar'),
    pipe('archive the configuration', (ctx) => tarPaths(i.master, ctx.get<{ present: string[] }>('config').present), 'configuration.tar'),
    pipe('archive the job output', () => tarPaths(i.master, [LAVA_JOB_OUTPUT]), 'job-output.tar'),
    step(
      'write the manifest and seal the bundle',
      (ctx) =>
        sealBundle(i.store, partial(ctx), `${bundleDir(i)}/${bundleName(ctx)}`, {
          runbook: 'lavaMasterBackup',
          runbookVersion: 1,
          workflowId: ctx.workflowId,
          master: i.master,
          createdAt: ctx.startedAt.toISOString(),
          database: db(ctx),
          rows: ctx.get('rows'),
          versions: ctx.get('versions'),
          base: ctx.get('base'),
          configuration: ctx.get('config'),
          streamed: Object.fromEntries(
            ['lava-server.sql', 'packages.tar', 'configuration.tar', 'job-output.tar'].map((f) => [f, ctx.get<PipeResult>(f).sha256]),
          ),
        }),
      { idempotent: false, as: 'sealed', parse: (r) => JSON.parse(out(r)) },
    ),
    step('remove bundles beyond retention', () => pruneBundles(i.store, bundleDir(i), i.keep), { idempotent: true }),
  ],
  output: (ctx) => ({
    bundle: ctx.get<{ bundle: string }>('sealed').bundle,
    database: { bytes: ctx.get<PipeResult>('lava-server.sql').bytes, sha256: ctx.get<PipeResult>('lava-server.sql').sha256 },
    rows: ctx.get('rows'),
    versions: ctx.get('versions'),
  }),
});
