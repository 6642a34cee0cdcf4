// openstackRename: the CERN cloud's "Rename a virtual machine": the move procedure within one project with a
// new hostname. Stop, snapshot, download, virt-sysprep a copy to clean the hostname information and set
// the new one (net-hostname, then `--hostname NEW`, plus the move's hardware-address operations), upload,
// create the server under its new name and verify it; only then, through the `delete-source` gate, delete
// the old one ("If all is working OK").
import { z } from 'zod';
import { common } from '../engine/input-fields.js';
import { runbook } from '../engine/runbook.js';
import { imageCopySteps, MOVE_OPERATIONS } from './image-steps.js';
import { cloudName, flavorRef, imageCopyFields, imageHostOf, keyPairName, newServerName, propertiesOf, serverRef } from './input-fields.js';
import { deleteSourceGate } from './move-gate.js';
import { keptFlavor, moveRefusal, windowsMoveRefusal } from './rules.js';
import { createFromImage, deleteSource, stopSource } from './server-steps.js';
import { imageNameFree, readServer, serverNameFree } from './steps.js';

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

export const openstackRename = runbook({
  name: 'openstackRename',
  input: OpenstackRenameInput,
  hosts: (i) => [imageHostOf(i)],
  procedure: (i) => {
    const source = readServer(i.cloud, i.server, (s) => moveRefusal(s) ?? windowsMoveRefusal(s, 'rename'));
    const c = {
      host: imageHostOf(i),
      from: i.cloud,
      to: i.cloud,
      snapshotName: `${i.server}-rename-snapshot`,
      imageName: `${i.newName}-image`,
      properties: propertiesOf(i),
      sysprep: { amend: Boolean(i.amendCompat), operations: [...MOVE_OPERATIONS, 'net-hostname'], extra: ['--hostname', i.newName] },
    };
    const copy = imageCopySteps(c, source);
    const renamed = createFromImage(i.cloud, i.newName, copy.uploaded, {
      flavor: (ctx) => keptFlavor(i.flavor, source.value(ctx), 'server'),
      keyName: (ctx) => i.keyName ?? source.value(ctx).keyName ?? null,
      network: i.network,
    });
    return {
      steps: [
        source,
        imageNameFree(i.cloud, c.snapshotName),
        imageNameFree(i.cloud, c.imageName),
        serverNameFree(i.cloud, i.newName),
        copy.workspace,
        stopSource(i.cloud, source),
        copy.snapshot,
        copy.snapshotActive,
        copy.download,
        copy.copy,
        copy.amend,
        copy.sysprep,
        copy.checksum,
        copy.upload,
        copy.uploaded,
        renamed.create,
        renamed.active,
        renamed.verified,
        deleteSourceGate(c, source, copy, `the renamed server ${i.newName} is ACTIVE and verified`),
        deleteSource(i.cloud, source),
        copy.removeFiles,
      ],
      output: (ctx) => {
        const src = source.value(ctx);
        const s = renamed.active.value(ctx);
        return {
          old: { id: src.id, name: src.name, deleted: true },
          image: copy.uploaded.value(ctx),
          server: { id: s.id, name: s.name, status: s.status, addresses: s.addresses, imageId: s.imageId },
        };
      },
    };
  },
});
