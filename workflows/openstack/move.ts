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
import { cloudName, flavorRef, keyPairName, moveRefusal, newServerName, serverRef } from './rules.js';
import {
  checksumCopy,
  createFromImage,
  deleteSource,
  downloadSnapshot,
  imageNameFree,
  imageWorkspace,
  MOVE_OPERATIONS,
  newServerOf,
  readSource,
  removeImageFiles,
  serverNameFree,
  snapshotSource,
  sourceOf,
  stopSource,
  sysprepCopy,
  uploadCopy,
  waitDnsExpired,
  imageCopyFields,
  imageHostOf,
} from './image-steps.js';
import { deleteSourceGate } from './move-gate.js';
import { runbook, type RunContext } from '../engine/runbook.js';

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
type Input = z.infer<ReturnType<typeof OpenstackMoveInput>>;
type Ctx = RunContext<Input>;

export const openstackMove = runbook({
  name: 'openstackMove',
  input: OpenstackMoveInput,
  hosts: (i) => [imageHostOf(i)],
  steps: (i) => {
    const host = imageHostOf(i);
    const target = i.keepName ? i.server : i.newName!;
    const snapshot = `${i.server}-move-snapshot`;
    const image = `${target}-image`;
    const create = createFromImage<Input>(i.toCloud, target, {
      flavor: (ctx: Ctx) => i.flavor ?? sourceOf(ctx).flavor ?? '(the source shows no flavor: give flavor)',
      keyName: (ctx: Ctx) => i.keyName ?? sourceOf(ctx).keyName ?? null,
      network: i.network,
    });
    return [
      readSource<Input>(i.fromCloud, i.server, moveRefusal),
      imageNameFree<Input>(i.fromCloud, snapshot),
      imageNameFree<Input>(i.toCloud, image),
      serverNameFree<Input>(i.toCloud, target, { exceptSource: i.fromCloud === i.toCloud }),
      imageWorkspace<Input>(host),
      stopSource<Input>(i.fromCloud),
      ...snapshotSource<Input>(i.fromCloud, snapshot),
      downloadSnapshot<Input>(i.fromCloud, host),
      ...sysprepCopy<Input>(host, { amend: Boolean(i.amendCompat), operations: MOVE_OPERATIONS }),
      checksumCopy<Input>(host),
      ...uploadCopy<Input>(i.toCloud, host, image, i.properties ?? { os: 'LINUX' }),
      ...(i.keepName
        ? [
            deleteSourceGate<Input>(i.fromCloud, i.toCloud, host, 'then wait for its DNS entry to expire and create it again in the target'),
            deleteSource<Input>(i.fromCloud),
            waitDnsExpired<Input>(i.server),
            ...create,
          ]
        : [
            ...create,
            deleteSourceGate<Input>(i.fromCloud, i.toCloud, host, `the new server ${target} is ACTIVE and verified`),
            deleteSource<Input>(i.fromCloud),
          ]),
      removeImageFiles<Input>(host),
    ];
  },
  output: (ctx) => {
    const s = newServerOf(ctx);
    return {
      source: { id: sourceOf(ctx).id, name: sourceOf(ctx).name, cloud: ctx.input.fromCloud, deleted: true },
      image: ctx.get('uploaded'),
      server: { id: s.id, name: s.name, status: s.status, addresses: s.addresses, imageId: s.imageId, cloud: ctx.input.toCloud },
      ...(ctx.input.keepName ? { dns: ctx.get('dns') } : {}),
    };
  },
});
