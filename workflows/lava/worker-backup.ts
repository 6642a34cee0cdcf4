// lavaWorkerBackup: the worker half of LAVA's "Creating Backups". One dated bundle on the backup store
// with the worker's configuration, its token (a secret: 0600 in a 0700 bundle, and never in history, it
// is streamed host → store), ser2net and udev setup and the site's PDU scripts, plus a manifest.
import { z } from 'zod';
import type { BackupEncryption } from '../../activities/store/encryption.js';
import type { PipeResult } from '../../activities/ssh/pipe.js';
import { bundleStamp, makePrivateDir, receiveFile } from './backup-store.js';
import { describeCommand, stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { LAVA_WORKER_PATHS, presence, presentPaths, tarPaths, workerVersions } from './commands.js';
import { encryptionTransform, markBundleIncomplete, readEncryption, sealCheckPrune } from './bundle-steps.js';
import { call, runbook, step, type RunContext } from '../engine/runbook.js';

/** An absolute path without "..": PDU control scripts live wherever the site put them. */
const hostPath = () =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._+@/-]{1,255}$/, 'an absolute path (letters, digits, "._+@-/")')
    .refine((p) => !p.split('/').includes('..'), 'no ".." in a path');

export const LavaWorkerBackupInput = () =>
  z.strictObject({
    worker: hostName(),
    store: hostName(),
    /** PDU control scripts the worker's device dictionaries call (power on/off/reset), e.g. /usr/local/bin/pdu-*. */
    pduScripts: z.array(hostPath()).max(100).default([]),
    keep: z.number().int().min(1).max(365).default(14),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof LavaWorkerBackupInput>>;
type Ctx = RunContext<Input>;

export const LAVA_WORKER_BUNDLE_ROOT = 'backups/lava-worker';
const bundleDir = (i: Input): string => `${LAVA_WORKER_BUNDLE_ROOT}/${i.worker}`;
const sealed = (ctx: Ctx): string => `${bundleDir(ctx.input)}/${bundleStamp(ctx.startedAt)}`;
const partial = (ctx: Ctx): string => `${sealed(ctx)}.partial`;
const present = (ctx: Ctx): string[] => ctx.get<{ present: string[] }>('files').present;
const encryption = (ctx: Ctx): BackupEncryption => ctx.get<BackupEncryption>('encryption');
const archive = (ctx: Ctx): string => (encryption(ctx).tool === 'age' ? 'worker.tar.age' : 'worker.tar');

export const lavaWorkerBackup = runbook({
  name: 'lavaWorkerBackup',
  input: LavaWorkerBackupInput,
  hosts: (i) => [i.worker, i.store],
  leases: (i) => [i.store],
  steps: (i) => [
    step('record versions', () => workerVersions(i.worker), {
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
      expect: (v) => ((v as Record<string, string>)['lava-dispatcher'] ? undefined : `lava-dispatcher is not installed on ${i.worker}`),
    }),
    step('find the worker files', () => presentPaths(i.worker, [...LAVA_WORKER_PATHS, ...i.pduScripts.map((p) => p.slice(1))]), {
      idempotent: true,
      readOnly: true,
      as: 'files',
      parse: (r) => presence(stdoutOf(r)),
      // Without its config and token a worker cannot talk to the master: such a backup would be useless.
      expect: (v) => {
        const missing = ['etc/lava-dispatcher/lava-worker', 'var/lib/lava/dispatcher/worker/token'].filter(
          (p) => !(v as { present: string[] }).present.includes(p),
        );
        return missing.length ? `${i.worker} has no ${missing.map((p) => `/${p}`).join(' and no ')}` : undefined;
      },
    }),
    readEncryption<Input>(),
    step('create the bundle directory', (ctx) => makePrivateDir(i.store, partial(ctx)), { idempotent: true }),
    call<Input>(
      'archive the worker files',
      'pipeCommands',
      (ctx) => ({
        from: tarPaths(i.worker, present(ctx)),
        to: receiveFile(i.store, `${partial(ctx)}/${archive(ctx)}`),
        step: 'archive the worker files',
        transform: encryptionTransform(encryption(ctx)),
      }),
      (ctx) => [
        `${describeCommand(tarPaths(i.worker, present(ctx)))}${encryption(ctx).tool === 'age' ? ' | worker$ age --encrypt' : ''} | ${i.store}$ cat > ${partial(ctx)}/${archive(ctx)}`,
      ],
      { idempotent: true, as: 'worker.tar', timeout: '1 hour' },
    ),
    ...sealCheckPrune<Input>(i.store, { partial, sealed, dir: bundleDir(i), keep: i.keep }, (ctx) => ({
      runbook: 'lavaWorkerBackup',
      runbookVersion: 1,
      workflowId: ctx.workflowId,
      worker: i.worker,
      createdAt: ctx.startedAt.toISOString(),
      versions: ctx.get('versions'),
      paths: ctx.get('files'),
      encryption: encryption(ctx),
      plaintext: { 'worker.tar': ctx.get<PipeResult>('worker.tar').sourceSha256 },
      streamed: { [archive(ctx)]: ctx.get<PipeResult>('worker.tar').sha256 },
    })),
  ],
  cleanup: (i) => [markBundleIncomplete<Input>(i.store, sealed)],
  output: (ctx) => ({
    bundle: ctx.get<{ bundle: string }>('sealed').bundle,
    files: ctx.get<{ present: string[]; absent: string[] }>('files'),
    versions: ctx.get('versions'),
  }),
});
