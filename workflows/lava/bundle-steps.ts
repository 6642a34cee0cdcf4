// Steps backup runbooks end with (seal the bundle, check it on the store before anything older is
// pruned; on failure or abort mark the unsealed one incomplete) and restore runbooks begin with (find the
// bundle, refuse before any change unless every file checks out), plus the streams of bundle files.
import type { BackupEncryption } from '../../activities/store/encryption.js';
import type { PipeRequest, PipeResult } from '../../activities/ssh/pipe.js';
import type { SignedText, VerifiedRecord } from '../../activities/store/signing.js';
import { stdoutOf, type CommandResult } from '../engine/commands.js';
import { activity, change, read, type RunContext } from '../engine/runbook.js';
import { checkBundle, listBundles, markIncomplete, pruneBundles, sealBundle } from './backup-store.js';
import { beyondRetention, bundleProblems, chooseBundle, type Checked, type Found } from './checks.js';

export type { Found } from './checks.js';

/** A host's JSON answer. */
export const json =
  <T>() =>
  (r: CommandResult[]): T =>
    JSON.parse(stdoutOf(r)) as T;
export const lines = (r: CommandResult[]): string[] => stdoutOf(r).split('\n').filter(Boolean);

/** The manifests' signatures checked on the worker, then the bundle chosen ("latest": newest signed creation time). */
export function findSignedBundle<I>(store: string, root: string, bundle: string, host?: string) {
  return read(
    'find the bundle and check its signature',
    (_: RunContext<I>) => activity('verifyBackupRecords', { list: listBundles(store, root, bundle, host), file: 'manifest.json' }),
    {
      parse: (records: VerifiedRecord[]) => chooseBundle(records, bundle, root, host),
      verdict: true,
      expect: (f: Found) => f.problem,
    },
  );
}

/** Finds the signed bundle ("latest" or a name, under root/host), then refuses the run unless every file checks out. */
export function findCheckedBundle<I>(store: string, root: string, bundle: string, host?: string) {
  const found = findSignedBundle<I>(store, root, bundle, host);
  const checked = read(
    'check every file against the manifest',
    (ctx: RunContext<I>) => checkBundle(store, found.value(ctx).bundle, found.value(ctx).manifestSha256),
    {
      parse: json<Checked>(),
      verdict: true,
      expect: (v) => bundleProblems(v.problems, 'the bundle does not check out, nothing was changed'),
    },
  );
  return { found, checked };
}

/** The bundle a run writes: `partial` while it is written, `sealed` once the manifest checked out. */
export interface BundlePaths<I> {
  partial(ctx: RunContext<I>): string;
  sealed(ctx: RunContext<I>): string;
  dir: string;
  keep: number;
}

/** The manifest's list of files: each as it reached the store (size and sha256 counted by the worker on the way). */
export function streamedFiles(files: Record<string, PipeResult>): Record<string, { size: number; sha256: string }> {
  return Object.fromEntries(Object.entries(files).map(([name, p]) => [name, { size: p.bytes, sha256: p.sha256 }]));
}

/**
 * The end of every backup: the worker writes and signs the manifest (it names the bundle's sealed path and
 * lists every file as streamed), the store seals the bundle only if its files are exactly those, the
 * sealed bundle is checked file by file, and only then are signed bundles beyond `keep` in `dir` pruned.
 */
export function sealCheckPrune<I>(store: string, bundle: BundlePaths<I>, manifest: (ctx: RunContext<I>) => Record<string, unknown>) {
  const signed = read('sign the manifest', (ctx: RunContext<I>) =>
    activity('signBackupRecord', { record: { ...manifest(ctx), location: bundle.sealed(ctx) } }),
  );
  // Sealing twice is harmless (a second run reports the sealed bundle), so a retry is safe.
  const sealed = change(
    'write the manifest and seal the bundle',
    (ctx: RunContext<I>) => sealBundle(store, bundle.partial(ctx), bundle.sealed(ctx), signed.value(ctx) as SignedText),
    {
      parse: json<{ bundle: string; files: number }>(),
    },
  );
  const signedBundles = read('list the signed bundles', (_: RunContext<I>) =>
    activity('verifyBackupRecords', {
      list: listBundles(store, bundle.dir.slice(0, bundle.dir.lastIndexOf('/')), 'latest', bundle.dir.slice(bundle.dir.lastIndexOf('/') + 1)),
      file: 'manifest.json',
    }),
  );
  const steps = [
    signed,
    sealed,
    read('check the sealed bundle', (ctx: RunContext<I>) => checkBundle(store, bundle.sealed(ctx), signed.value(ctx).sha256), {
      parse: json<Checked>(),
      expect: (v) => bundleProblems(v.problems, 'the new bundle does not check out'),
    }),
    signedBundles,
    change('remove bundles beyond retention', (ctx: RunContext<I>) => pruneBundles(store, bundle.dir, beyondRetention(signedBundles.value(ctx), bundle.keep))),
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
