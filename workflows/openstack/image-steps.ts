// The steps of the CERN cloud's snapshot procedures that go through an image file: snapshot, download to
// the image host, virt-sysprep on a copy, checksum, upload, create the server, and the source's deletion.
// openstackClone, openstackMove and openstackRename list these in their own order. Clouds and names are the
// run's input; what earlier steps found (IDs, paths, hashes) comes from the run context.
import type { FileDigest, ImageWorkspace } from '../../activities/openstack/image-files.js';
import { z } from 'zod';
import { remote, stdoutOf } from '../engine/commands.js';
import { hostName } from '../engine/input-fields.js';
import { imageProperties, networkId, type ImageView, type ServerView } from './rules.js';
import { call, step, type RunContext, type StepEntry } from '../engine/runbook.js';

/** Input fields of every runbook that copies a server through an image (clone, move, rename). */
export const imageCopyFields = () => ({
  network: networkId().optional(),
  /** Glance properties of the cleaned image; default {"os": "LINUX"} (CERN; Windows: {"landb-os": "WINDOWS"}). */
  properties: imageProperties().optional(),
  /** `qemu-img amend -o compat=0.10` before virt-sysprep: an SLC6-era image (CERN). */
  amendCompat: z.literal(true).optional(),
  /** The inventory host that downloads, sysprepes and uploads the image (CERN: an lxplus machine). */
  via: hostName().optional(),
});

/** The host the image files live on during the copy. */
export const imageHostOf = (i: { via?: string }): string => i.via ?? 'cloud-client';

type Ctx<I> = RunContext<I>;

export const workspaceOf = <I>(ctx: Ctx<I>): ImageWorkspace => ctx.get<ImageWorkspace>('workspace');
const snapshotFile = <I>(ctx: Ctx<I>): string => `${workspaceOf(ctx).dir}/snapshot.qcow2`;
/** The copy virt-sysprep changes; the downloaded snapshot stays as glance had it. */
const cleanFile = <I>(ctx: Ctx<I>): string => `${workspaceOf(ctx).dir}/clean.qcow2`;
export const sourceOf = <I>(ctx: Ctx<I>): ServerView => ctx.get<ServerView>('server');
const snapshotOf = <I>(ctx: Ctx<I>): ImageView => ctx.get<{ image: ImageView }>('snapshot').image;
export const uploadedOf = <I>(ctx: Ctx<I>): ImageView => ctx.get<ImageView>('uploaded');
export const newServerOf = <I>(ctx: Ctx<I>): ServerView => ctx.get<ServerView>('new server');

/**
 * virt-sysprep operations of the CERN page's move ("limiting the number of operations"), plus `customize`:
 * `--delete` is a customize option, and with `--enable udev-persistent-net,net-hwaddr` alone virt-sysprep
 * silently keeps the files the page means to delete (tried here: /etc/krb5.keytab stayed).
 */
export const MOVE_OPERATIONS = ['udev-persistent-net', 'net-hwaddr', 'customize'];

/** `openstack server show SERVER -f json` in `cloud`, refused (run Failed, nothing changed) when `refusal` says so. */
export function readSource<I>(cloud: string, server: string, refusal: (s: ServerView) => string | undefined): StepEntry<I> {
  return call<I>(
    'read the server',
    'openstackServer',
    () => ({ cloud, server }),
    () => [`nova GET /servers/${server} (cloud ${cloud})`],
    {
      idempotent: true,
      readOnly: true,
      as: 'server',
      verdict: true,
      expect: (s) => refusal(s as ServerView),
    },
  );
}

export function imageWorkspace<I>(host: string): StepEntry<I> {
  return call<I>(
    'read the image host settings',
    'openstackImageWorkspace',
    (ctx) => ({ host, workflowId: ctx.workflowId }),
    () => [`worker config: openstack.imageDir, openstack.sysprep (image host ${host})`],
    {
      idempotent: true,
      readOnly: true,
      as: 'workspace',
    },
  );
}

/** Glance allows two images of one name; these runbooks never make a second one. */
export function imageNameFree<I>(cloud: string, name: string): StepEntry<I> {
  return call<I>(
    `check the image name ${name} is free`,
    'openstackImagesNamed',
    () => ({ cloud, name }),
    () => [`glance GET /v2/images?name=${name} (cloud ${cloud})`],
    {
      idempotent: true,
      readOnly: true,
      verdict: true,
      expect: (found, ctx) => {
        const other = (found as ImageView[]).filter((im) => im.madeBy !== ctx.workflowId);
        return other.length
          ? `cloud ${cloud} already has an image named ${name} (${other.map((im) => `${im.id}, ${im.status}`).join('; ')}): choose another name or delete it first`
          : undefined;
      },
    },
  );
}

/** `exceptSource`: the source server may hold the name (a move in one project that keeps it deletes it first). */
export function serverNameFree<I>(cloud: string, name: string, o: { exceptSource?: boolean } = {}): StepEntry<I> {
  return call<I>(
    `check the server name ${name} is free`,
    'openstackServersNamed',
    () => ({ cloud, name }),
    () => [`nova GET /servers/detail?name=^${name}$ (cloud ${cloud})`],
    {
      idempotent: true,
      readOnly: true,
      verdict: true,
      expect: (found, ctx) => {
        const other = (found as ServerView[]).filter((s) => s.madeBy !== ctx.workflowId && !(o.exceptSource && s.id === sourceOf(ctx).id));
        return other.length ? `cloud ${cloud} already has a server named ${name} (${other.map((s) => `${s.id}, ${s.status}`).join('; ')})` : undefined;
      },
    },
  );
}

/** `openstack server stop SERVER`, and our wait for SHUTOFF (the client has none); a stopped server is left as is. */
export function stopSource<I>(cloud: string): StepEntry<I> {
  return call<I>(
    'stop the server',
    'openstackStopServer',
    (ctx) => ({ cloud, serverId: sourceOf(ctx).id }),
    (ctx) => [`nova POST /servers/${sourceOf(ctx).id}/action {"os-stop": null}, then until SHUTOFF   # = openstack server stop ${sourceOf(ctx).name}`],
    {
      idempotent: true,
      as: 'stopped',
    },
  );
}

/** `openstack server image create --name NAME SERVER`, then our bounded wait for `active` (killed fails the run). */
export function snapshotSource<I>(cloud: string, name: string): StepEntry<I>[] {
  return [
    call<I>(
      'snapshot the server',
      'openstackCreateImage',
      (ctx) => ({ cloud, serverId: sourceOf(ctx).id, name, workflowId: ctx.workflowId }),
      (ctx) => [
        `nova POST /servers/${sourceOf(ctx).id}/action {"createImage": {"name": "${name}"}}   # = openstack server image create --name ${name} ${sourceOf(ctx).name}`,
      ],
      {
        // Each call would be a new image: the activity reuses this run's image by name instead.
        idempotent: false,
        as: 'snapshot',
      },
    ),
    call<I>(
      'wait for the snapshot to become active',
      'openstackWaitImage',
      (ctx) => ({ cloud, imageId: snapshotOf(ctx).id }),
      () => [`glance GET /v2/images/{id} until active; killed, deleted, pending_delete fail`],
      {
        idempotent: true,
        readOnly: true,
        as: 'image',
        verdict: true,
        timeout: '12 hours',
      },
    ),
  ];
}

/** `openstack image save --file DIR/snapshot.qcow2 SNAPSHOT` onto the image host, md5 and sha512 checked against glance. */
export function downloadSnapshot<I>(cloud: string, host: string): StepEntry<I> {
  return call<I>(
    'download the snapshot',
    'openstackDownloadImage',
    (ctx) => ({ cloud, imageId: snapshotOf(ctx).id, host, path: snapshotFile(ctx) }),
    (ctx) => [`glance GET /v2/images/${snapshotOf(ctx).id}/file → ${host}:${snapshotFile(ctx)}   # = openstack image save --file`],
    {
      idempotent: true,
      as: 'download',
      timeout: '12 hours',
    },
  );
}

/**
 * A copy, then `virt-sysprep` on the copy only: the downloaded snapshot stays as glance has it. `amend`:
 * `qemu-img amend -o compat=0.10` first (CERN: an SLC6-era image, "sysprep won't work" otherwise).
 * `operations` null: virt-sysprep's default set; else only those (`--enable`). `extra`: more options,
 * e.g. `--hostname NEW`.
 */
export function sysprepCopy<I>(host: string, o: { amend: boolean; operations: string[] | null; extra?: string[] }): StepEntry<I>[] {
  return [
    step<I>('copy the snapshot', (ctx) => remote(host, ['cp', '--sparse=always', '--', snapshotFile(ctx), cleanFile(ctx)], { timeoutSeconds: 3600 }), {
      idempotent: true,
    }),
    o.amend &&
      step<I>(
        'qemu-img amend compat=0.10',
        (ctx) => remote(host, ['qemu-img', 'amend', '-f', 'qcow2', '-o', 'compat=0.10', cleanFile(ctx)], { timeoutSeconds: 3600 }),
        { idempotent: true },
      ),
    step<I>(
      'virt-sysprep the copy',
      (ctx) => {
        const w = workspaceOf(ctx);
        return remote(
          host,
          [
            'virt-sysprep',
            '--format',
            'qcow2',
            '--add',
            cleanFile(ctx),
            ...(o.operations ? ['--enable', o.operations.join(',')] : []),
            ...w.deletePaths.flatMap((p) => ['--delete', p]),
            ...(o.extra ?? []),
          ],
          // root: libguestfs reads the host kernel in /boot to build its appliance.
          { sudo: true, env: w.sysprepEnv, timeoutSeconds: w.sysprepTimeoutSeconds },
        );
      },
      // Idempotent: every operation on an already prepared copy changes nothing more.
      { idempotent: true, timeout: '12 hours' },
    ),
  ].filter((s): s is StepEntry<I> => Boolean(s));
}

export interface CopyChecksum {
  sha512: string;
  bytes: number;
  virtualSize: number;
}

/** `qemu-img check` (a sound qcow2), its sizes (CERN: "check the snapshot ... seems a reasonable size") and sha512. */
export function checksumCopy<I>(host: string): StepEntry<I> {
  return step<I>(
    'check and checksum the copy',
    (ctx) => [
      remote(host, ['qemu-img', 'check', '-q', '-f', 'qcow2', cleanFile(ctx)], { timeoutSeconds: 3600 }),
      remote(host, ['qemu-img', 'info', '--output=json', '-f', 'qcow2', cleanFile(ctx)], { timeoutSeconds: 600 }),
      remote(host, ['sha512sum', '--', cleanFile(ctx)], { timeoutSeconds: 3600 }),
    ],
    {
      idempotent: true,
      readOnly: true,
      as: 'checksum',
      parse: (r): CopyChecksum => {
        const info = JSON.parse(r[1]!.stdoutTail) as { 'virtual-size': number; 'actual-size'?: number };
        return { sha512: stdoutOf([r[2]!]).split(/\s/)[0]!, bytes: info['actual-size'] ?? 0, virtualSize: info['virtual-size'] };
      },
      expect: (v, ctx) => {
        const c = v as CopyChecksum;
        const d = ctx.get<FileDigest>('download');
        if (!/^[0-9a-f]{128}$/.test(c.sha512)) return 'sha512sum printed no checksum';
        return c.virtualSize <= 0 || d.bytes <= 0 ? `the image looks empty (virtual size ${c.virtualSize}, snapshot ${d.bytes} bytes)` : undefined;
      },
    },
  );
}

/** `openstack image create NAME --disk-format qcow2 --container-format bare --file clean.qcow2 --property …`, then until active with the copy's sha512. */
export function uploadCopy<I>(cloud: string, host: string, name: string, properties: Record<string, string>): StepEntry<I>[] {
  const props = Object.entries(properties)
    .map(([k, v]) => `--property ${k}=${v}`)
    .join(' ');
  return [
    call<I>(
      'upload the image',
      'openstackUploadImage',
      (ctx) => ({ cloud, host, path: cleanFile(ctx), name, properties, workflowId: ctx.workflowId }),
      (ctx) => [
        `${host}:${cleanFile(ctx)} → glance POST /v2/images + PUT /file (cloud ${cloud})   # = openstack image create ${name} --disk-format qcow2 --container-format bare ${props} --file`,
      ],
      {
        // Not idempotent (each call would be an image): the activity reuses this run's image by name.
        idempotent: false,
        as: 'upload',
        timeout: '12 hours',
      },
    ),
    call<I>(
      'wait for the image to become active and check its checksum',
      'openstackWaitImage',
      (ctx) => ({ cloud, imageId: ctx.get<{ image: ImageView }>('upload').image.id }),
      () => [`glance GET /v2/images/{id} until active; its sha512 must equal the copy's`],
      {
        idempotent: true,
        readOnly: true,
        as: 'uploaded',
        verdict: true,
        timeout: '12 hours',
        expect: (v, ctx) => {
          const im = v as ImageView;
          const want = ctx.get<CopyChecksum>('checksum').sha512;
          if (im.hashAlgo !== 'sha512' || !im.hashValue)
            return `glance reports no sha512 for image ${im.id} (${im.hashAlgo ?? 'none'}): cannot prove the upload`;
          return im.hashValue === want
            ? undefined
            : `image ${im.name} (${im.id}) in cloud ${cloud} has sha512 ${im.hashValue.slice(0, 16)}…, the copy on ${host} ${want.slice(0, 16)}…: the upload is damaged`;
        },
      },
    ),
  ];
}

/** `openstack server create --flavor F --image IMG --key-name K [--network N] NAME`, then until ACTIVE on that image, then a last look. */
export function createFromImage<I>(
  cloud: string,
  name: string,
  o: { flavor: (ctx: Ctx<I>) => string; keyName: (ctx: Ctx<I>) => string | null; network?: string },
): StepEntry<I>[] {
  const created = (ctx: Ctx<I>): ServerView => ctx.get<{ server: ServerView }>('created').server;
  return [
    call<I>(
      'create the server',
      'openstackCreateServer',
      (ctx) => ({ cloud, name, imageId: uploadedOf(ctx).id, flavor: o.flavor(ctx), keyName: o.keyName(ctx), network: o.network, workflowId: ctx.workflowId }),
      (ctx) => [
        `nova POST /servers (cloud ${cloud})   # = openstack server create --flavor ${o.flavor(ctx)} --image ${uploadedOf(ctx).id}${o.keyName(ctx) ? ` --key-name ${o.keyName(ctx)}` : ''}${o.network ? ` --network ${o.network}` : ''} ${name}`,
      ],
      // Not idempotent (each call would be a server): the activity reuses this run's server by name.
      { idempotent: false, as: 'created' },
    ),
    call<I>(
      'wait for the new server',
      'openstackWaitServer',
      (ctx) => ({ cloud, serverId: created(ctx).id, until: 'ACTIVE', imageId: uploadedOf(ctx).id }),
      () => [`nova GET /servers/{id} until ACTIVE with no task, on the new image; ERROR fails`],
      {
        idempotent: true,
        readOnly: true,
        as: 'new server',
        verdict: true,
        timeout: '12 hours',
      },
    ),
    call<I>(
      'verify the new server',
      'openstackServer',
      (ctx) => ({ cloud, server: created(ctx).id }),
      () => [`nova GET /servers/{id}: ${name}, ACTIVE, the new image, an address`],
      {
        idempotent: true,
        readOnly: true,
        as: 'verified',
        verdict: true,
        expect: (v, ctx) => {
          const s = v as ServerView;
          const why = [
            s.name !== name && `is named ${s.name}`,
            s.status !== 'ACTIVE' && `is ${s.status}`,
            s.imageId !== uploadedOf(ctx).id && `boots ${s.imageId}, not the new image`,
            s.addresses.length === 0 && 'has no address',
          ].filter(Boolean);
          return why.length ? `new server ${name} (${s.id}) ${why.join(', ')}` : undefined;
        },
      },
    ),
  ];
}

/** `openstack server delete SERVER` and the wait until nova no longer knows it; the name is checked against the ID first. */
export function deleteSource<I>(cloud: string): StepEntry<I> {
  return call<I>(
    'delete the source server',
    'openstackDeleteServer',
    (ctx) => ({ cloud, serverId: sourceOf(ctx).id, name: sourceOf(ctx).name }),
    (ctx) => [`nova DELETE /servers/${sourceOf(ctx).id} (cloud ${cloud}), then until it is gone   # = openstack server delete ${sourceOf(ctx).name}`],
    {
      // A second delete of a deleted server finds it gone and says so.
      idempotent: true,
      danger: true,
      as: 'deleted',
      timeout: '12 hours',
    },
  );
}

/** CERN: "wait for 15 minutes or so until the DNS entry has expired. Check this with the 'host' command". */
export function waitDnsExpired<I>(name: string): StepEntry<I> {
  return call<I>(
    'wait for the DNS entry to expire',
    'openstackWaitDnsGone',
    () => ({ name }),
    () => [`resolver lookup of ${name} (A) until NXDOMAIN, bounded by openstack.dns.timeoutSeconds   # = host ${name}`],
    {
      idempotent: true,
      readOnly: true,
      as: 'dns',
      timeout: '12 hours',
    },
  );
}

export function removeImageFiles<I>(host: string): StepEntry<I> {
  return step<I>('remove the image files', (ctx) => remote(host, ['rm', '-rf', '--', workspaceOf(ctx).dir], { sudo: true, timeoutSeconds: 600 }), {
    idempotent: true,
  });
}
