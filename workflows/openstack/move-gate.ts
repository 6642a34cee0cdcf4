// The gate before a move or rename deletes its source: it shows which server goes and the proof that its
// replacement image is safe in the target (active, and the sha512 glance computed equals the copy's).
import type { ImageView } from './rules.js';
import { sourceOf, uploadedOf, type CopyChecksum } from './image-steps.js';
import { gate, type GateEntry, type RunContext } from '../engine/runbook.js';

export function deleteSourceGate<I>(fromCloud: string, toCloud: string, host: string, then: string): GateEntry<I> {
  return gate<I>('delete-source', (ctx: RunContext<I>) => {
    const s = sourceOf(ctx);
    const im = uploadedOf(ctx);
    const snap = ctx.get<ImageView>('image');
    return [
      `DELETE server ${s.name} (${s.id}) in cloud ${fromCloud}, addresses ${s.addresses.join(', ') || 'none'}; ${then}`,
      `its image in cloud ${toCloud}: ${im.name} (${im.id}), ${im.status}, ${im.size ?? '?'} bytes, sha512 ${im.hashValue ?? '?'} = the sysprepped copy on ${host} (${ctx.get<CopyChecksum>('checksum').sha512.slice(0, 16)}…)`,
      `the raw snapshot stays in cloud ${fromCloud}: ${snap.name} (${snap.id}); delete it once the new server is fine`,
    ];
  });
}
