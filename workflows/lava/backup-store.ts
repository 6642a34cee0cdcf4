// The commands backup runbooks run on the backup store host. A bundle is one directory per run:
//   <dir>/<UTC stamp>[-label].partial     while it is written (never counted as a backup)
//   <dir>/<UTC stamp>[-label]             sealed: manifest.json checked against what was streamed
//   <dir>/<UTC stamp>[-label].incomplete  a run that failed or was aborted; kept for inspection
// Scripts are files in scripts/; values reach them only as positional arguments.
import type { SignedText } from '../../activities/store/signing.js';
import { remote, type RemoteCommand } from '../engine/commands.js';
import checkScript from './scripts/check-bundle.py';
import listScript from './scripts/list-bundles.py';
import markIncompleteScript from './scripts/mark-incomplete.sh';
import pruneScript from './scripts/prune-bundles.sh';
import readManifestScript from './scripts/read-manifest.py';
import sameFilesScript from './scripts/same-files.py';
import scratchRestoreScript from './scripts/scratch-restore.py';
import sealScript from './scripts/seal-bundle.py';

/** Sealed bundle names: a UTC stamp and an optional label, nothing else (so *.partial never matches). */
export const SEALED_BUNDLE = /^[0-9]{8}T[0-9]{6}Z(-[a-z0-9-]+)?$/; // POSIX ERE too: grep -E uses it

/** A bundle's name stamp: the run's start in UTC, e.g. 20261122T020000Z (sorts by time, no ":" in paths). */
export function bundleStamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export function freeBytes(store: string, dir: string): RemoteCommand {
  return remote(store, ['sh', '-c', 'mkdir -p "$1" && df -PB1 "$1" | awk "NR==2 {print \\$4}"', 'df', dir]);
}

export function makePrivateDir(store: string, dir: string): RemoteCommand {
  return remote(store, ['sh', '-c', 'umask 077 && mkdir -p "$1" && chmod 700 "$1"', 'mkdir', dir]);
}

/** Receives a stream into a private file (0600) inside the unsealed bundle. */
export function receiveFile(store: string, path: string): RemoteCommand {
  return remote(store, ['sh', '-c', 'umask 077 && cat > "$1"', 'receive', path]);
}

/** Seals `tmp` as `final` with the worker's signed manifest. Run twice (a crash after the rename), it reports the sealed bundle again. */
export function sealBundle(store: string, tmp: string, final: string, signed: SignedText): RemoteCommand {
  return remote(store, ['python3', '-c', sealScript, tmp, final], { stdin: JSON.stringify({ text: signed.text, signature: signed.signature }) });
}

/**
 * A run that did not finish leaves its bundle renamed to *.incomplete with the reason next to it: never
 * counted as a backup, never mistaken for one that is still being written, easy to inspect and delete.
 */
export function markIncomplete(store: string, tmp: string, reason: string): RemoteCommand {
  return remote(store, ['sh', '-c', markIncompleteScript, 'incomplete', tmp, reason]);
}

/** Removes the named sealed bundles of `dir` (chosen by the worker); incomplete and stale partial ones older than a week go too. */
export function pruneBundles(store: string, dir: string, names: string[]): RemoteCommand {
  return remote(store, ['sh', '-c', pruneScript, 'prune', dir, SEALED_BUNDLE.source, ...names]);
}

/** The sealed bundles `bundle` ("latest", a path, or with `host` a bare name) may be, with their manifests and signatures. */
export function listBundles(store: string, root: string, bundle: string, host?: string): RemoteCommand {
  return remote(store, ['python3', '-c', listScript, root, bundle, SEALED_BUNDLE.source, ...(host ? [host] : [])]);
}

/** Every file against the signed manifest (scripts/check-bundle.py): problems by file name, a finding not an error. */
export function checkBundle(store: string, bundle: string, manifestSha256: string): RemoteCommand {
  return remote(store, ['python3', '-c', checkScript, bundle, manifestSha256]);
}

/** The seed's "all backups checked that the equivalent files exist in each": siblings against the tested bundle. */
export function compareFileSets(store: string, tested: string, siblings: string[]): RemoteCommand {
  return remote(store, ['python3', '-c', sameFilesScript, tested, ...siblings]);
}

/** Restores a dump ("-": from stdin) into a throwaway PostgreSQL on the store, never the live server, and counts rows. */
export function scratchRestore(store: string, dump: string, owner: string, tables: string[]): RemoteCommand {
  return remote(store, ['nice', '-n', '10', 'python3', '-c', scratchRestoreScript, dump, owner, ...tables.filter((t) => /^[a-z_][a-z0-9_]*$/.test(t))]);
}

/** Selected fields of a bundle's manifest, refused unless it is the one whose signature was checked. */
export function readManifest(store: string, bundle: string, manifestSha256: string, keys: string[]): RemoteCommand {
  return remote(store, ['python3', '-c', readManifestScript, bundle, manifestSha256, ...keys]);
}

/** Streams one bundle file out of the store (into a pipe). */
export function sendFile(store: string, path: string): RemoteCommand {
  return remote(store, ['cat', '--', path]);
}
