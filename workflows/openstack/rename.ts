// openstackRename: the CERN cloud's "Rename a virtual machine": the move procedure within one project with a
// new hostname. Stop, snapshot, download, virt-sysprep a copy to clean the hostname information and set
// the new one (net-hostname, then `--hostname NEW`, plus the move's hardware-address operations), upload,
// create the server under its new name and verify it; only then, through the `delete-source` gate, delete
// the old one ("If all is working OK").
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
  imageCopyFields,
  imageHostOf,
} from './image-steps.js';
import { deleteSourceGate } from './move-gate.js';
import { runbook, type RunContext } from '../engine/runbook.js';

export const OpenstackRenameInput = () =>
  z.strictObject({
    cloud: cloudName(),
    server: serverRef(),
    /** The new name and hostname. */
    newName: newServerName(),
    /** Default: the server's own flavor and key pair. */
    flavor: flavorRef().optional(),
    keyName: keyPairName().optional(),
    ...imageCopyFields(),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof OpenstackRenameInput>>;
type Ctx = RunContext<Input>;

export const openstackRename = runbook({
  name: 'openstackRename',
  input: OpenstackRenameInput,
  hosts: (i) => [imageHostOf(i)],
  steps: (i) => {
    const host = imageHostOf(i);
    const snapshot = `${i.server}-rename-snapshot`;
    const image = `${i.newName}-image`;
    return [
      readSource<Input>(i.cloud, i.server, moveRefusal),
      imageNameFree<Input>(i.cloud, snapshot),
      imageNameFree<Input>(i.cloud, image),
      serverNameFree<Input>(i.cloud, i.newName),
      imageWorkspace<Input>(host),
      stopSource<Input>(i.cloud),
      ...snapshotSource<Input>(i.cloud, snapshot),
      downloadSnapshot<Input>(i.cloud, host),
      ...sysprepCopy<Input>(host, { amend: Boolean(i.amendCompat), operations: [...MOVE_OPERATIONS, 'net-hostname'], extra: ['--hostname', i.newName] }),
      checksumCopy<Input>(host),
      ...uploadCopy<Input>(i.cloud, host, image, i.properties ?? { os: 'LINUX' }),
      ...createFromImage<Input>(i.cloud, i.newName, {
        flavor: (ctx: Ctx) => i.flavor ?? sourceOf(ctx).flavor ?? '(the server shows no flavor: give flavor)',
        keyName: (ctx: Ctx) => i.keyName ?? sourceOf(ctx).keyName ?? null,
        network: i.network,
      }),
      deleteSourceGate<Input>(i.cloud, i.cloud, host, `the renamed server ${i.newName} is ACTIVE and verified`),
      deleteSource<Input>(i.cloud),
      removeImageFiles<Input>(host),
    ];
  },
  output: (ctx) => {
    const s = newServerOf(ctx);
    return {
      old: { id: sourceOf(ctx).id, name: sourceOf(ctx).name, deleted: true },
      image: ctx.get('uploaded'),
      server: { id: s.id, name: s.name, status: s.status, addresses: s.addresses, imageId: s.imageId },
    };
  },
});
