// Steps backup runbooks end with (check the sealed bundle on the store before anything older is pruned;
// on failure or abort mark the unsealed one incomplete) and restore runbooks begin with (find the bundle,
// refuse before any change unless every file checks out).
import type { BackupEncryption } from '../../activities/store/encryption.js';
import type { PipeRequest } from '../../activities/ssh/pipe.js';
import { checkBundle, findBundle, markIncomplete, pruneBundles, sealBundle } from './backup-store.js';
import { stdoutOf } from '../engine/commands.js';
import { call, step, type RunContext, type StepEntry } from '../engine/runbook.js';

export function checkSealedBundle<I>(store: string, bundle: (ctx: RunContext<I>) => string): StepEntry<I> {
  return step<I>('check the sealed bundle', (ctx) => checkBundle(store, bundle(ctx)), {
    idempotent: true,
    readOnly: true,
    parse: (r) => JSON.parse(stdoutOf(r)) as { problems: string[] },
    expect: (v) => {
      const problems = (v as { problems: string[] }).problems;
      return problems.length ? `the new bundle does not check out: ${problems.join('; ')}` : undefined;
    },
  });
}

export function markBundleIncomplete<I>(store: string, bundle: (ctx: RunContext<I>) => string): StepEntry<I> {
  return step<I>('mark the bundle incomplete', (ctx) => markIncomplete(store, bundle(ctx), `run ${ctx.workflowId} ended before the bundle was sealed`), {
    idempotent: true,
  });
}

/** Finds the bundle ("latest" or a name, under root/host) as `found`, then refuses the run unless it checks out. */
export function findCheckedBundle<I>(store: string, root: string, bundle: string, host: string): StepEntry<I>[] {
  const found = (ctx: RunContext<I>): string => ctx.get<{ bundle: string }>('found').bundle;
  return [
    step<I>('find the bundle', () => findBundle(store, root, bundle, host), {
      idempotent: true,
      readOnly: true,
      as: 'found',
      parse: (r) => JSON.parse(stdoutOf(r)),
    }),
    step<I>('check every file against the manifest', (ctx) => checkBundle(store, found(ctx)), {
      idempotent: true,
      readOnly: true,
      verdict: true,
      parse: (r) => JSON.parse(stdoutOf(r)) as { problems: string[] },
      expect: (v) => {
        const problems = (v as { problems: string[] }).problems;
        return problems.length ? `the bundle does not check out, nothing was changed: ${problems.join('; ')}` : undefined;
      },
    }),
  ];
}

/**
 * The end of every backup: write the manifest and seal (as `sealed`), check the sealed bundle file by
 * file, and only then prune bundles beyond `keep` in `dir`.
 */
export function sealCheckPrune<I>(
  store: string,
  bundle: { partial: (ctx: RunContext<I>) => string; sealed: (ctx: RunContext<I>) => string; dir: string; keep: number },
  manifest: (ctx: RunContext<I>) => Record<string, unknown>,
): StepEntry<I>[] {
  return [
    step<I>('write the manifest and seal the bundle', (ctx) => sealBundle(store, bundle.partial(ctx), bundle.sealed(ctx), manifest(ctx)), {
      // Sealing twice is harmless (a second run reports the sealed bundle), so a retry is safe.
      idempotent: true,
      as: 'sealed',
      parse: (r) => JSON.parse(stdoutOf(r)),
    }),
    checkSealedBundle<I>(store, bundle.sealed),
    step<I>('remove bundles beyond retention', () => pruneBundles(store, bundle.dir, bundle.keep), { idempotent: true }),
  ];
}

/** Reads the worker's encryption-at-rest settings (public keys only) as `encryption`. */
export function readEncryption<I>(): StepEntry<I> {
  return call<I>(
    'read the encryption settings',
    'backupEncryption',
    () => ({}),
    () => ['worker config: backups.ageRecipients'],
    {
      idempotent: true,
      readOnly: true,
      as: 'encryption',
    },
  );
}

/** The pipe transform that encrypts to the configured recipients, or none when encryption is off. */
export function encryptionTransform(e: BackupEncryption): PipeRequest['transform'] {
  return e.tool === 'age' ? { encryptTo: e.recipients } : undefined;
}
