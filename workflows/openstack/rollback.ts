// openstackRollback: the CERN cloud's "Snapshots for rollback & rebuild", second half:
// `openstack server rebuild --image IMAGE SERVER` keeps the server's ID, name and addresses and wipes its
// root disk. Preflight (read-only) refuses a volume-backed server, a server in a transitional state and an
// image that is not active; the gate `rebuild` shows which server, which image, and the state now; then the
// rebuild and our own bounded wait for ACTIVE (or SHUTOFF when it was off, like osc's --wait).
import { z } from 'zod';
import { common } from '../engine/input-fields.js';
import { cloudName, imageRef, rebuildRefusal, rebuildTarget, serverRef, type ImageView } from './rules.js';
import { readServer, serverOf, waitForServer, type ServerView } from './steps.js';
import { call, gate, runbook, type RunContext } from '../engine/runbook.js';

export const OpenstackRollbackInput = () =>
  z.strictObject({
    cloud: cloudName(),
    server: serverRef(),
    /** The image to rebuild from (name or ID), e.g. a snapshot made by openstackSnapshot. */
    image: imageRef(),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof OpenstackRollbackInput>>;
type Ctx = RunContext<Input>;

const imageOf = (ctx: Ctx): ImageView => ctx.get<ImageView>('image');

export const openstackRollback = runbook({
  name: 'openstackRollback',
  input: OpenstackRollbackInput,
  hosts: () => [],
  steps: (i) => [
    readServer<Input>(rebuildRefusal),
    call<Input>(
      'read the image',
      'openstackImage',
      () => ({ cloud: i.cloud, image: i.image }),
      () => [`glance GET /v2/images/${i.image}`],
      {
        idempotent: true,
        readOnly: true,
        as: 'image',
        verdict: true,
        expect: (im) => {
          const image = im as ImageView;
          return image.status === 'active' ? undefined : `image ${image.name} (${image.id}) is ${image.status}, not active: nothing to rebuild from`;
        },
      },
    ),
    gate<Input>('rebuild', (ctx) => {
      const s = serverOf(ctx);
      const im = imageOf(ctx);
      return [
        `cloud ${i.cloud}: server ${s.name} (${s.id}), now ${s.status}, addresses ${s.addresses.join(', ') || 'none'}, boots image ${s.imageId}`,
        `rebuild from image ${im.name} (${im.id}), ${im.status}, ${im.diskFormat ?? '?'} ${im.size ?? '?'} bytes, ${im.hashAlgo ?? 'md5'} ${im.hashValue ?? im.checksum ?? '?'}`,
        'the root disk is WIPED and replaced by the image; ID, name and addresses stay',
        `then wait for ${rebuildTarget(s)} (the worker's openstack.serverTimeoutSeconds)`,
      ];
    }),
    call<Input>(
      'rebuild the server',
      'openstackRebuild',
      (ctx) => ({ cloud: i.cloud, serverId: serverOf(ctx).id, imageId: imageOf(ctx).id }),
      (ctx) => [
        `nova POST /servers/${serverOf(ctx).id}/action {"rebuild": {"imageRef": "${imageOf(ctx).id}"}}   # = openstack server rebuild --image ${i.image} ${i.server}`,
      ],
      // Not idempotent: the activity re-checks the state after the gate and reports a rebuild an earlier
      // attempt already started. A refusal here parks: retry once the server has settled, or abort.
      { idempotent: false, danger: true, as: 'rebuild' },
    ),
    waitForServer<Input>(
      (ctx) => rebuildTarget(serverOf(ctx)),
      (ctx) => imageOf(ctx).id,
    ),
  ],
  output: (ctx) => {
    const s = ctx.get<ServerView>('settled');
    return {
      server: { id: s.id, name: s.name, status: s.status, addresses: s.addresses },
      image: { id: imageOf(ctx).id, name: imageOf(ctx).name },
      before: serverOf(ctx).status,
    };
  },
});
