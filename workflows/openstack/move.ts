// openstackMove: the CERN cloud's "Snapshots to move between projects or clouds". Stop the source and wait
// for SHUTOFF, snapshot, download, virt-sysprep a copy with the page's limited operation set, checksum it,
// upload it to the target project and wait until glance has it `active` with the same sha512. Only then may
// the source go, and only through the `delete-source` gate:
// - keeping the name: delete the source, wait until its DNS entry has expired, then create the server with
//   the same name in the target project (nova would otherwise hand the name to a new address while the old
//   one is still cached);
// - a new name: create and verify the new server first, then delete the source.
import { z } from 'zod';
import { common } from '../engine/input-fields.js';
import { runbook } from '../engine/runbook.js';
import { imageCopySteps, MOVE_OPERATIONS } from './image-steps.js';
import { cloudName, flavorRef, imageCopyFields, imageHostOf, keyPairName, newServerName, propertiesOf, serverRef } from './input-fields.js';
import { deleteSourceGate } from './move-gate.js';
import { keptFlavor, moveRefusal, windowsMoveRefusal } from './rules.js';
import { createFromImage, deleteSource, stopSource, waitDnsExpired } from './server-steps.js';
import { imageNameFree, readServer, serverNameFree } from './steps.js';

export const OpenstackMoveInput = () =>
  z
    .strictObject({
      /** Clouds of the worker's clouds.yaml: one per project (they may be the same cloud, other projects). */
      fromCloud: cloudName(),
      toCloud: cloudName(),
      server: serverRef(),
      /** Keep the server's name in the target project; false needs `newName`. */
      keepName: z.boolean(),
      newName: newServerName().optional(),
      /** Default: the source's flavor and key pair (the target project must have them). */
      flavor: flavorRef().optional(),
      keyName: keyPairName().optional(),
      ...imageCopyFields(),
      ...common(),
    })
    .superRefine((i, ctx) => {
      if (!i.keepName && !i.newName) ctx.addIssue({ code: 'custom', path: ['newName'], message: 'required when keepName is false' });
      if (i.keepName && i.newName) ctx.addIssue({ code: 'custom', path: ['keepName'], message: 'true keeps the name: leave out newName' });
      if (i.keepName && !newServerName().safeParse(i.server).success)
        ctx.addIssue({ code: 'custom', path: ['server'], message: 'keepName needs a name that is a valid host name (not an ID); or give newName' });
    });

export const openstackMove = runbook({
  name: 'openstackMove',
  input: OpenstackMoveInput,
  hosts: (i) => [imageHostOf(i)],
  procedure: (i) => {
    const target = i.keepName ? i.server : i.newName!;
    const source = readServer(i.fromCloud, i.server, (s) => moveRefusal(s) ?? windowsMoveRefusal(s, 'move'));
    const c = {
      host: imageHostOf(i),
      from: i.fromCloud,
      to: i.toCloud,
      snapshotName: `${i.server}-move-snapshot`,
      imageName: `${target}-image`,
      properties: propertiesOf(i),
      sysprep: { amend: Boolean(i.amendCompat), operations: MOVE_OPERATIONS },
    };
    const copy = imageCopySteps(c, source);
    const moved = createFromImage(i.toCloud, target, copy.uploaded, {
      flavor: (ctx) => keptFlavor(i.flavor, source.value(ctx), 'source'),
      keyName: (ctx) => i.keyName ?? source.value(ctx).keyName ?? null,
      network: i.network,
    });
    const dns = i.keepName ? waitDnsExpired(i.server) : null;
    return {
      steps: [
        source,
        imageNameFree(i.fromCloud, c.snapshotName),
        imageNameFree(i.toCloud, c.imageName),
        // In one project the source holds the name it keeps until it is deleted.
        serverNameFree(i.toCloud, target, i.fromCloud === i.toCloud ? source : undefined),
        copy.workspace,
        stopSource(i.fromCloud, source),
        copy.snapshot,
        copy.snapshotActive,
        copy.download,
        copy.copy,
        copy.amend,
        copy.sysprep,
        copy.checksum,
        copy.upload,
        copy.uploaded,
        ...(dns
          ? [
              deleteSourceGate(c, source, copy, 'then wait for its DNS entry to expire and create it again in the target'),
              deleteSource(i.fromCloud, source),
              dns,
              moved.create,
              moved.active,
              moved.verified,
            ]
          : [
              moved.create,
              moved.active,
              moved.verified,
              deleteSourceGate(c, source, copy, `the new server ${target} is ACTIVE and verified`),
              deleteSource(i.fromCloud, source),
            ]),
        copy.removeFiles,
      ],
      output: (ctx) => {
        const src = source.value(ctx);
        const s = moved.active.value(ctx);
        return {
          source: { id: src.id, name: src.name, cloud: i.fromCloud, deleted: true },
          image: copy.uploaded.value(ctx),
          server: { id: s.id, name: s.name, status: s.status, addresses: s.addresses, imageId: s.imageId, cloud: i.toCloud },
          ...(dns ? { dns: dns.value(ctx) } : {}),
        };
      },
    };
  },
});
