// openstackClone: the CERN cloud's "Snapshots for testing and cloning". Snapshot the server (it keeps
// running), download the image to the image host, virt-sysprep a copy (hardware addresses, machine id, SSH
// host keys and the rest of virt-sysprep's defaults, plus the site's --delete paths), upload it as a new
// qcow2 image with properties (os=LINUX registers the clone in LanDB), create the new server from it and
// verify it. The source server is never changed.
import { z } from 'zod';
import { common } from '../engine/input-fields.js';
import { cloudName, flavorRef, keyPairName, newServerName, serverRef, snapshotRefusal } from './rules.js';
import {
  checksumCopy,
  createFromImage,
  downloadSnapshot,
  imageNameFree,
  imageWorkspace,
  newServerOf,
  readSource,
  removeImageFiles,
  serverNameFree,
  snapshotSource,
  sourceOf,
  sysprepCopy,
  uploadCopy,
  uploadedOf,
  imageCopyFields,
  imageHostOf,
} from './image-steps.js';
import { runbook } from '../engine/runbook.js';

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
type Input = z.infer<ReturnType<typeof OpenstackCloneInput>>;

export const openstackClone = runbook({
  name: 'openstackClone',
  input: OpenstackCloneInput,
  hosts: (i) => [imageHostOf(i)],
  steps: (i) => {
    const host = imageHostOf(i);
    const snapshot = `${i.newName}-snapshot`;
    const image = `${i.newName}-image`;
    return [
      readSource<Input>(i.cloud, i.server, snapshotRefusal),
      imageNameFree<Input>(i.cloud, snapshot),
      imageNameFree<Input>(i.cloud, image),
      serverNameFree<Input>(i.cloud, i.newName),
      imageWorkspace<Input>(host),
      ...snapshotSource<Input>(i.cloud, snapshot),
      downloadSnapshot<Input>(i.cloud, host),
      // virt-sysprep's default operations, as on the CERN page.
      ...sysprepCopy<Input>(host, { amend: Boolean(i.amendCompat), operations: null }),
      checksumCopy<Input>(host),
      ...uploadCopy<Input>(i.cloud, host, image, i.properties ?? { os: 'LINUX' }),
      ...createFromImage<Input>(i.cloud, i.newName, { flavor: () => i.flavor, keyName: () => i.keyName, network: i.network }),
      removeImageFiles<Input>(host),
    ];
  },
  output: (ctx) => {
    const s = newServerOf(ctx);
    return {
      source: { id: sourceOf(ctx).id, name: sourceOf(ctx).name },
      snapshot: ctx.get<{ id: string; name: string }>('image'),
      image: uploadedOf(ctx),
      server: { id: s.id, name: s.name, status: s.status, addresses: s.addresses, imageId: s.imageId },
    };
  },
});
