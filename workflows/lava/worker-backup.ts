// lavaWorkerBackup: the worker half of LAVA's "Creating Backups". One dated bundle on the backup store
// with the worker's configuration, its token (a secret: 0600 in a 0700 bundle, and never in history, it
// is streamed host → store), ser2net and udev setup and the site's PDU scripts, plus a manifest.
import { z } from 'zod';
import { stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { change, read, runbook, type RunContext } from '../engine/runbook.js';
import { bundleStamp, makePrivateDir, receiveFile } from './backup-store.js';
import { encryptionTransform, isAge, markBundleIncomplete, readEncryption, sealCheckPrune, stream, streamedFiles } from './bundle-steps.js';
import { presence, tabPairs, workerFilesProblem } from './checks.js';
import { LAVA_WORKER_PATHS, presentPaths, tarPaths, workerVersions } from './commands.js';

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

export const lavaWorkerBackup = runbook({
  name: 'lavaWorkerBackup',
  input: LavaWorkerBackupInput,
  hosts: (i) => [i.worker, i.store],
  leases: (i) => [{ host: i.store, sharedPath: `${LAVA_WORKER_BUNDLE_ROOT}/${i.worker}` }],
  procedure: (i) => {
    const dir = `${LAVA_WORKER_BUNDLE_ROOT}/${i.worker}`;
    const sealedPath = (ctx: Ctx): string => `${dir}/${bundleStamp(ctx.startedAt)}`;
    const partial = (ctx: Ctx): string => `${sealedPath(ctx)}.partial`;

    const versions = read('record versions', () => workerVersions(i.worker), {
      parse: (r) => tabPairs(stdoutOf(r)),
      expect: (v) => (v['lava-dispatcher'] ? undefined : `lava-dispatcher is not installed on ${i.worker}`),
    });
    const files = read('find the worker files', () => presentPaths(i.worker, [...LAVA_WORKER_PATHS, ...i.pduScripts.map((p) => p.slice(1))]), {
      parse: (r) => presence(stdoutOf(r)),
      expect: (v) => workerFilesProblem(i.worker, v.present),
    });
    const encryption = readEncryption<Input>();
    const archive = (ctx: Ctx): string => (isAge(encryption.value(ctx)) ? 'worker.tar.age' : 'worker.tar');
    const tar = change(
      'archive the worker files',
      (ctx: Ctx) =>
        stream('archive the worker files', {
          from: tarPaths(i.worker, files.value(ctx).present),
          to: receiveFile(i.store, `${partial(ctx)}/${archive(ctx)}`),
          transform: encryptionTransform(encryption.value(ctx)),
        }),
      { timeout: '1 hour' },
    );
    const seal = sealCheckPrune<Input>(i.store, { partial, sealed: sealedPath, dir, keep: i.keep }, (ctx) => ({
      runbook: 'lavaWorkerBackup',
      runbookVersion: 2,
      workflowId: ctx.workflowId,
      worker: i.worker,
      createdAt: ctx.startedAt.toISOString(),
      versions: versions.value(ctx),
      paths: files.value(ctx),
      encryption: encryption.value(ctx),
      plaintext: { 'worker.tar': tar.value(ctx).sourceSha256 },
      files: streamedFiles({ [archive(ctx)]: tar.value(ctx) }),
    }));

    return {
      steps: [versions, files, encryption, change('create the bundle directory', (ctx: Ctx) => makePrivateDir(i.store, partial(ctx))), tar, ...seal.steps],
      cleanup: [markBundleIncomplete<Input>(i.store, sealedPath)],
      output: (ctx) => ({ bundle: seal.sealed.value(ctx).bundle, files: files.value(ctx), versions: versions.value(ctx) }),
    };
  },
});
