// Steps backup runbooks end with (seal the bundle, check it on the store before anything older is
// pruned; on failure or abort mark the unsealed one incomplete) and restore runbooks begin with (find the
// bundle, refuse before any change unless every file checks out), plus the streams of bundle files.
import type { BackupEncryption } from '../../activities/store/encryption.js';
import type { PipeRequest } from '../../activities/ssh/pipe.js';
import { stdoutOf, type CommandResult } from '../engine/commands.js';
import { activity, change, read, type RunContext } from '../engine/runbook.js';
import { checkBundle, findBundle, markIncomplete, pruneBundles, sealBundle } from './backup-store.js';
import { bundleProblems, type Checked } from './checks.js';

/** A host's JSON answer. */
export const json =
  <T>() =>
  (r: CommandResult[]): T =>
    JSON.parse(stdoutOf(r)) as T;
export const lines = (r: CommandResult[]): string[] => stdoutOf(r).split('\n').filter(Boolean);

/** Where a found bundle is, and its sealed siblings (newest first). */
export interface Found {
  bundle: string;
  siblings: string[];
}

/** Finds the bundle ("latest" or a name, under root/host), then refuses the run unless every file checks out. */
export function findCheckedBundle<I>(store: string, root: string, bundle: string, host?: string) {
  const found = read('find the bundle', (_: RunContext<I>) => findBundle(store, root, bundle, host), { parse: json<Found>() });
  const checked = read('check every file against the manifest', (ctx: RunContext<I>) => checkBundle(store, found.value(ctx).bundle), {
    parse: json<Checked>(),
    verdict: true,
    expect: (v) => bundleProblems(v.problems, 'the bundle does not check out, nothing was changed'),
  });
  return { found, checked };
}

/** The bundle a run writes: `partial` while it is written, `sealed` once the manifest checked out. */
export interface BundlePaths<I> {
  partial(ctx: RunContext<I>): string;
  sealed(ctx: RunContext<I>): string;
  dir: string;
  keep: number;
}

/**
 * The end of every backup: write the manifest and seal, check the sealed bundle file by file, and only
 * then prune bundles beyond `keep` in `dir`.
 */
export function sealCheckPrune<I>(store: string, bundle: BundlePaths<I>, manifest: (ctx: RunContext<I>) => Record<string, unknown>) {
  // Sealing twice is harmless (a second run reports the sealed bundle), so a retry is safe.
  const sealed = change(
    'write the manifest and seal the bundle',
    (ctx: RunContext<I>) => sealBundle(store, bundle.partial(ctx), bundle.sealed(ctx), manifest(ctx)),
    {
      parse: json<{ bundle: string; files: number }>(),
    },
  );
  const steps = [
    sealed,
    read('check the sealed bundle', (ctx: RunContext<I>) => checkBundle(store, bundle.sealed(ctx)), {
      parse: json<Checked>(),
      expect: (v) => bundleProblems(v.problems, 'the new bundle does not check out'),
    }),
    change('remove bundles beyond retention', (_: RunContext<I>) => pruneBundles(store, bundle.dir, bundle.keep)),
  ];
  return { sealed, steps };
}

/** A run that ended before sealing: its bundle becomes *.incomplete with the reason inside. */
export function markBundleIncomplete<I>(store: string, bundle: (ctx: RunContext<I>) => string) {
  return change('mark the bundle incomplete', (ctx: RunContext<I>) =>
    markIncomplete(store, bundle(ctx), `run ${ctx.workflowId} ended before the bundle was sealed`),
  );
}

/** The worker's encryption-at-rest settings (public keys only). */
export function readEncryption<I>() {
  return read('read the encryption settings', (_: RunContext<I>) => activity('backupEncryption', {}));
}

export const isAge = (e: BackupEncryption): boolean => e.tool === 'age';

/** The pipe transform that encrypts to the configured recipients, or none when encryption is off. */
export function encryptionTransform(e: BackupEncryption): PipeRequest['transform'] {
  return isAge(e) ? { encryptTo: e.recipients } : undefined;
}

/** A stream of one file from host to host through the worker (what the plan shows is this very request). */
export function stream(name: string, request: Omit<PipeRequest, 'step'>) {
  return activity('pipeCommands', { ...request, step: name });
}
