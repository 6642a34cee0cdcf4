// The gate before a move or rename deletes its source: it shows which server goes and the proof that its
// replacement image is safe in the target (active, and the sha512 glance computed equals the copy's).
import { gate, type Gate, type Step } from '../engine/runbook.js';
import type { ImageCopy, ImageCopySteps } from './image-steps.js';
import type { ServerView } from './rules.js';

/** `then`: what follows the delete (the DNS wait and the create, or nothing more: the new server already runs). */
export function deleteSourceGate<I>(c: ImageCopy, source: Step<I, ServerView>, copy: ImageCopySteps<I>, then: string): Gate<I> {
  return gate('delete-source', (ctx) => {
    const s = source.value(ctx);
    const im = copy.uploaded.value(ctx);
    const snap = copy.snapshotActive.value(ctx);
    return [
      `DELETE server ${s.name} (${s.id}) in cloud ${c.from}, addresses ${s.addresses.join(', ') || 'none'}; ${then}`,
      `its image in cloud ${c.to}: ${im.name} (${im.id}), ${im.status}, ${im.size ?? '?'} bytes, sha512 ${im.hashValue ?? '?'} = the sysprepped copy on ${c.host} (${copy.checksum.value(ctx).sha512.slice(0, 16)}…)`,
      `the raw snapshot stays in cloud ${c.from}: ${snap.name} (${snap.id}); delete it once the new server is fine`,
    ];
  });
}
