// openstackClone: the CERN cloud's "Snapshots for testing and cloning". Snapshot the server (it keeps
// running), download the image to the image host, virt-sysprep a copy (hardware addresses, machine id, SSH
// host keys and the rest of virt-sysprep's defaults, plus the site's --delete paths), upload it as a new
// qcow2 image with properties (os=LINUX registers the clone in LanDB), create the new server from it and
// verify it. The source server is never changed.
import { z } from 'zod';
import { common } from '../engine/input-fields.js';
import { runbook } from '../engine/runbook.js';
import { imageCopySteps } from './image-steps.js';
import { cloudName, flavorRef, imageCopyFields, imageHostOf, keyPairName, newServerName, propertiesOf, serverRef } from './input-fields.js';
import { snapshotRefusal, windowsCloneRefusal } from './rules.js';
import { createFromImage } from './server-steps.js';
import { imageNameFree, readServer, serverNameFree } from './steps.js';

export const OpenstackCloneInput = () =>
  z.strictObject({
    cloud: cloudName(),
    server: serverRef(),
    /** The clone's name (and hostname); its images are NAME-snapshot (raw snapshot) and NAME-image (cleaned). */
    newName: newServerName(),
    flavor: flavorRef(),
    keyName: keyPairName(),
    ...imageCopyFields(),
    ...common(),
  });

export const openstackClone = runbook({
  name: 'openstackClone',
  input: OpenstackCloneInput,
  hosts: (i) => [imageHostOf(i)],
  procedure: (i) => {
    const source = readServer(i.cloud, i.server, (s) => snapshotRefusal(s) ?? windowsCloneRefusal(s, propertiesOf(i)));
    const c = {
      host: imageHostOf(i),
      from: i.cloud,
      to: i.cloud,
      snapshotName: `${i.newName}-snapshot`,
      imageName: `${i.newName}-image`,
      properties: propertiesOf(i),
      // virt-sysprep's default operations, as on the CERN page.
      sysprep: { amend: Boolean(i.amendCompat), operations: null },
    };
    const copy = imageCopySteps(c, source);
    const clone = createFromImage(i.cloud, i.newName, copy.uploaded, { flavor: () => i.flavor, keyName: () => i.keyName, network: i.network });
    return {
      steps: [
        source,
        imageNameFree(i.cloud, c.snapshotName),
        imageNameFree(i.cloud, c.imageName),
        serverNameFree(i.cloud, i.newName),
        copy.workspace,
        copy.snapshot,
        copy.snapshotActive,
        copy.download,
        copy.copy,
        copy.amend,
        copy.sysprep,
        copy.checksum,
        copy.upload,
        copy.uploaded,
        clone.create,
        clone.active,
        clone.verified,
        copy.removeFiles,
      ],
      output: (ctx) => {
        const src = source.value(ctx);
        const s = clone.active.value(ctx);
        return {
          source: { id: src.id, name: src.name },
          snapshot: copy.snapshotActive.value(ctx),
          image: copy.uploaded.value(ctx),
          server: { id: s.id, name: s.name, status: s.status, addresses: s.addresses, imageId: s.imageId },
        };
      },
    };
  },
});
