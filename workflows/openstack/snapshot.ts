// openstackSnapshot: the CERN cloud's "Snapshots for rollback & rebuild", first half:
// `openstack server image create --name NAME --wait SERVER`, with what the client's --wait lacks: our own
// bound, and `killed`/`deleted` images treated as failure. One image per name, ever: a name already taken
// is refused (or, if this very run made it, reused). Then the guest clock is resynced, as the page advises
// ("the machine can become unresponsive"), unless the input opts out.
import { z } from 'zod';
import { common } from '../engine/input-fields.js';
import { renderCommand } from '../engine/plan.js';
import { once, read, runbook } from '../engine/runbook.js';
import { cloudCall } from './cloud-calls.js';
import { cloudName, imageRef, serverRef } from './input-fields.js';
import { snapshotNameRefusal, snapshotRefusal, windowsResyncRefusal } from './rules.js';
import { readServer, resyncClock, resyncGuestClock, waitForImage } from './steps.js';

export const OpenstackSnapshotInput = () =>
  z.strictObject({
    cloud: cloudName(),
    server: serverRef(),
    /** The new image's name; must not exist yet in the project. */
    name: imageRef(),
    /**
     * Step the guest clock over SSH afterwards (default, as the CERN page advises): the server's name must be
     * an inventory host. false: no resync (a server not reachable over SSH, a Windows guest).
     */
    resyncClock: z.boolean().optional(),
    ...common(),
  });

/** The page's advice is the default; only an explicit false skips it. */
export const resyncsClock = (i: { resyncClock?: boolean }): boolean => i.resyncClock !== false;

export const openstackSnapshot = runbook({
  name: 'openstackSnapshot',
  input: OpenstackSnapshotInput,
  // The cloud is not an inventory host; only a clock resync reaches the guest over SSH.
  hosts: (i) => (resyncsClock(i) ? [i.server] : []),
  procedure: (i) => {
    const resync = resyncsClock(i);
    const server = readServer(i.cloud, i.server, (s) => snapshotRefusal(s) ?? (resync ? windowsResyncRefusal(s) : undefined));
    // Glance allows two images of one name; a rollback by name would then be ambiguous. Never make a second.
    const nameFree = read('check the image name is free', () => cloudCall('openstackImagesNamed', { cloud: i.cloud, name: i.name }), {
      verdict: true,
      expect: (found, ctx) => snapshotNameRefusal(i.name, found, ctx.workflowId),
    });
    // Once: each call would be a new image; the activity reuses this run's image by name instead.
    const created = once('create the snapshot', (ctx) =>
      cloudCall('openstackCreateImage', { cloud: i.cloud, serverId: server.value(ctx).id, name: i.name, workflowId: ctx.workflowId }),
    );
    const image = waitForImage('wait for the image to become active', i.cloud, (ctx) => created.value(ctx).image.id);
    const clock = resync ? resyncGuestClock(i.server) : null;
    return {
      steps: [server, nameFree, created, image, clock],
      output: (ctx) => {
        const s = server.value(ctx);
        return {
          server: { id: s.id, name: s.name, status: s.status },
          image: image.value(ctx),
          reused: created.value(ctx).reused,
          ...(clock ? { clock: clock.value(ctx), clockCommand: renderCommand(resyncClock(i.server)) } : {}),
        };
      },
    };
  },
});
