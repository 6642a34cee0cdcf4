// openstackSnapshot: the CERN cloud's "Snapshots for rollback & rebuild", first half:
// `openstack server image create --name NAME --wait SERVER`, with what the client's --wait lacks: our own
// bound, and `killed`/`deleted` images treated as failure. One image per name, ever: a name already taken
// is refused (or, if this very run made it, reused). Optionally the guest clock is resynced afterwards.
import { z } from 'zod';
import { describeCommand } from '../engine/commands.js';
import { common } from '../engine/input-fields.js';
import { cloudName, imageRef, serverRef, snapshotRefusal, type ImageView } from './rules.js';
import { readServer, resyncClock, serverOf, waitForImage } from './steps.js';
import { call, runbook, step, type RunContext } from '../engine/runbook.js';

export const OpenstackSnapshotInput = () =>
  z.strictObject({
    cloud: cloudName(),
    server: serverRef(),
    /** The new image's name; must not exist yet in the project. */
    name: imageRef(),
    /** Step the guest clock over SSH afterwards: the server's name must be an inventory host. */
    resyncClock: z.literal(true).optional(),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof OpenstackSnapshotInput>>;
type Ctx = RunContext<Input>;

const created = (ctx: Ctx): { image: ImageView; reused: boolean } => ctx.get('created');

export const openstackSnapshot = runbook({
  name: 'openstackSnapshot',
  input: OpenstackSnapshotInput,
  // The cloud is not an inventory host; only a clock resync reaches the guest over SSH.
  hosts: (i) => (i.resyncClock ? [i.server] : []),
  steps: (i) => [
    readServer<Input>(snapshotRefusal),
    call<Input>(
      'check the image name is free',
      'openstackImagesNamed',
      () => ({ cloud: i.cloud, name: i.name }),
      () => [`glance GET /v2/images?name=${i.name}`],
      {
        idempotent: true,
        readOnly: true,
        as: 'same name',
        verdict: true,
        // Glance allows two images of one name; a rollback by name would then be ambiguous. Never make a second.
        expect: (found, ctx) => {
          const other = (found as ImageView[]).filter((im) => im.madeBy !== ctx.workflowId);
          return other.length
            ? `an image named ${i.name} already exists (${other.map((im) => `${im.id}, ${im.status}${im.madeBy ? `, made by run ${im.madeBy}` : ''}`).join('; ')}): choose another name or delete it first`
            : undefined;
        },
      },
    ),
    // Not idempotent (each call would be a new image): the activity reuses this run's image by name instead.
    call<Input>(
      'create the snapshot',
      'openstackCreateImage',
      (ctx) => ({ cloud: i.cloud, serverId: serverOf(ctx).id, name: i.name, workflowId: ctx.workflowId }),
      (ctx) => [
        `nova POST /servers/${serverOf(ctx).id}/action {"createImage": {"name": "${i.name}"}}   # = openstack server image create --name ${i.name} ${i.server}`,
      ],
      { idempotent: false, as: 'created' },
    ),
    waitForImage<Input>((ctx) => created(ctx).image.id),
    i.resyncClock &&
      step('resync the guest clock', () => resyncClock(i.server), {
        idempotent: true,
        as: 'clock',
        parse: (r) => r.map((x) => x.stdoutTail.trim()).join(' '),
      }),
  ],
  output: (ctx) => {
    const image = ctx.get<ImageView>('image');
    return {
      server: { id: serverOf(ctx).id, name: serverOf(ctx).name, status: serverOf(ctx).status },
      image,
      reused: created(ctx).reused,
      ...(ctx.input.resyncClock ? { clock: ctx.get<string>('clock'), clockCommand: describeCommand(resyncClock(ctx.input.server)) } : {}),
    };
  },
});
