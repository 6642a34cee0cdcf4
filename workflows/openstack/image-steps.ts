// The steps of the CERN cloud's snapshot procedures that go through an image file: snapshot the server,
// download the snapshot to the image host, virt-sysprep a copy, checksum it, upload it and wait until glance
// has it with the same sha512. openstackClone, openstackMove and openstackRename list these steps in their
// own order; each is a handle, and the later ones take what the earlier ones found from them.
import { remote } from '../engine/commands.js';
import { change, once, read, type RunContext, type Step } from '../engine/runbook.js';
import type { ImageWorkspace } from '../../activities/openstack/image-files.js';
import { cloudCall } from './cloud-calls.js';
import { copyRefusal, parseCopyChecksum, uploadRefusal, type ServerView } from './rules.js';
import { waitForImage } from './steps.js';

/**
 * virt-sysprep operations of the CERN page's move ("limiting the number of operations"), plus `customize`:
 * `--delete` is a customize option, and with `--enable udev-persistent-net,net-hwaddr` alone virt-sysprep
 * silently keeps the files the page means to delete (tried here: /etc/krb5.keytab stayed).
 */
export const MOVE_OPERATIONS = ['udev-persistent-net', 'net-hwaddr', 'customize'];

export interface ImageCopy {
  /** The inventory host the image files live on. */
  host: string;
  /** The cloud the snapshot is made in and downloaded from. */
  from: string;
  /** The cloud the cleaned image is uploaded to. */
  to: string;
  snapshotName: string;
  imageName: string;
  properties: Record<string, string>;
  /**
   * `amend`: `qemu-img amend -o compat=0.10` first (CERN: an SLC6-era image, "sysprep won't work"
   * otherwise). `operations` null: virt-sysprep's default set, else only those (`--enable`). `extra`: more
   * options, e.g. `--hostname NEW`.
   */
  sysprep: { amend: boolean; operations: string[] | null; extra?: string[] };
}

/** virt-sysprep on the copy only, with the worker's own settings (appliance environment, --delete paths, bound). */
export function sysprepArgv(file: string, w: ImageWorkspace, o: ImageCopy['sysprep']): string[] {
  return [
    'virt-sysprep',
    '--format',
    'qcow2',
    '--add',
    file,
    ...(o.operations ? ['--enable', o.operations.join(',')] : []),
    ...w.deletePaths.flatMap((p) => ['--delete', p]),
    ...(o.extra ?? []),
  ];
}

/** The steps of one copy of `source` through an image file, as handles; `amend` is null unless asked for. */
export function imageCopySteps<I>(c: ImageCopy, source: Step<I, ServerView>) {
  type Ctx = RunContext<I>;
  const { host } = c;
  const workspace = read('read the image host settings', (ctx: Ctx) => cloudCall('openstackImageWorkspace', { host, workflowId: ctx.workflowId }));
  const dir = (ctx: Ctx): string => workspace.value(ctx).dir;
  const snapshotFile = (ctx: Ctx): string => `${dir(ctx)}/snapshot.qcow2`;
  // The copy virt-sysprep changes; the downloaded snapshot stays as glance has it.
  const cleanFile = (ctx: Ctx): string => `${dir(ctx)}/clean.qcow2`;

  // Once: each call would be a new image; the activity reuses this run's image by name instead.
  const snapshot = once('snapshot the server', (ctx: Ctx) =>
    cloudCall('openstackCreateImage', { cloud: c.from, serverId: source.value(ctx).id, name: c.snapshotName, workflowId: ctx.workflowId }),
  );
  const snapshotId = (ctx: Ctx): string => snapshot.value(ctx).image.id;
  const snapshotActive = waitForImage('wait for the snapshot to become active', c.from, snapshotId);
  // `openstack image save`, md5 and sha512 checked against glance by the activity.
  const download = change(
    'download the snapshot',
    (ctx: Ctx) => cloudCall('openstackDownloadImage', { cloud: c.from, imageId: snapshotId(ctx), host, path: snapshotFile(ctx) }),
    { timeout: '12 hours' },
  );
  const copy = change('copy the snapshot', (ctx: Ctx) =>
    remote(host, ['cp', '--sparse=always', '--', snapshotFile(ctx), cleanFile(ctx)], { timeoutSeconds: 3600 }),
  );
  const amend = c.sysprep.amend
    ? change('qemu-img amend compat=0.10', (ctx: Ctx) =>
        remote(host, ['qemu-img', 'amend', '-f', 'qcow2', '-o', 'compat=0.10', cleanFile(ctx)], { timeoutSeconds: 3600 }),
      )
    : null;
  // A change that can run again: every operation on an already prepared copy changes nothing more.
  const sysprep = change(
    'virt-sysprep the copy',
    (ctx: Ctx) => {
      const w = workspace.value(ctx);
      // root: libguestfs reads the host kernel in /boot to build its appliance.
      return remote(host, sysprepArgv(cleanFile(ctx), w, c.sysprep), { sudo: true, env: w.sysprepEnv, timeoutSeconds: w.sysprepTimeoutSeconds });
    },
    { timeout: '12 hours' },
  );
  // `qemu-img check` (a sound qcow2), its sizes (CERN: "check the snapshot ... seems a reasonable size") and sha512.
  const checksum = read(
    'check and checksum the copy',
    (ctx: Ctx) => [
      remote(host, ['qemu-img', 'check', '-q', '-f', 'qcow2', cleanFile(ctx)], { timeoutSeconds: 3600 }),
      remote(host, ['qemu-img', 'info', '--output=json', '-f', 'qcow2', cleanFile(ctx)], { timeoutSeconds: 600 }),
      remote(host, ['sha512sum', '--', cleanFile(ctx)], { timeoutSeconds: 3600 }),
    ],
    {
      parse: (r) => parseCopyChecksum(r[1]!.stdoutTail, r[2]!.stdoutTail),
      expect: (sum, ctx) => copyRefusal(sum, download.value(ctx).bytes),
    },
  );
  // Once: each call would be an image; the activity reuses this run's image by name.
  const upload = once(
    'upload the image',
    (ctx: Ctx) =>
      cloudCall('openstackUploadImage', { cloud: c.to, host, path: cleanFile(ctx), name: c.imageName, properties: c.properties, workflowId: ctx.workflowId }),
    { timeout: '12 hours' },
  );
  const uploaded = waitForImage(
    'wait for the image to become active and check its checksum',
    c.to,
    (ctx: Ctx) => upload.value(ctx).image.id,
    (im, ctx) => uploadRefusal(im, checksum.value(ctx).sha512, { cloud: c.to, host }),
  );
  const removeFiles = change('remove the image files', (ctx: Ctx) => remote(host, ['rm', '-rf', '--', dir(ctx)], { sudo: true, timeoutSeconds: 600 }));
  return { workspace, snapshot, snapshotActive, download, copy, amend, sysprep, checksum, upload, uploaded, removeFiles };
}

export type ImageCopySteps<I> = ReturnType<typeof imageCopySteps<I>>;
