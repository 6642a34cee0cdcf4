// openstackRollback: the CERN cloud's "Snapshots for rollback & rebuild", second half:
// `openstack server rebuild --image IMAGE SERVER` keeps the server's ID, name and addresses and wipes its
// root disk. Preflight (read-only) refuses a volume-backed server, a server in a transitional state and an
// image that is not active; the gate `rebuild` shows which server, which image, and the state now; then the
// rebuild and our own bounded wait for ACTIVE (or SHUTOFF when it was off, like osc's --wait).
import { z } from 'zod';
import { common } from '../engine/input-fields.js';
import { gate, once, read, runbook } from '../engine/runbook.js';
import { cloudCall } from './cloud-calls.js';
import { cloudName, imageRef, serverRef } from './input-fields.js';
import { rebuildRefusal, rebuildTarget, rollbackImageRefusal } from './rules.js';
import { readServer, waitForServer } from './steps.js';

export const OpenstackRollbackInput = () =>
  z.strictObject({
    cloud: cloudName(),
    server: serverRef(),
    /** The image to rebuild from (name or ID), e.g. a snapshot made by openstackSnapshot. */
    image: imageRef(),
    ...common(),
  });

export const openstackRollback = runbook({
  name: 'openstackRollback',
  input: OpenstackRollbackInput,
  hosts: () => [],
  procedure: (i) => {
    const server = readServer(i.cloud, i.server, rebuildRefusal);
    const image = read('read the image', () => cloudCall('openstackImage', { cloud: i.cloud, image: i.image }), {
      verdict: true,
      expect: rollbackImageRefusal,
    });
    const approval = gate('rebuild', (ctx) => {
      const s = server.value(ctx);
      const im = image.value(ctx);
      return [
        `cloud ${i.cloud}: server ${s.name} (${s.id}), now ${s.status}, addresses ${s.addresses.join(', ') || 'none'}, boots image ${s.imageId}`,
        `rebuild from image ${im.name} (${im.id}), ${im.status}, ${im.diskFormat ?? '?'} ${im.size ?? '?'} bytes, ${im.hashAlgo ?? 'md5'} ${im.hashValue ?? im.checksum ?? '?'}`,
        'the root disk is WIPED and replaced by the image; ID, name and addresses stay',
        `then wait for ${rebuildTarget(s)} (the worker's openstack.serverTimeoutSeconds)`,
      ];
    });
    // Once: the activity re-checks the state after the gate and reports a rebuild an earlier attempt
    // already started. A refusal here parks: retry once the server has settled, or abort.
    const rebuild = once(
      'rebuild the server',
      (ctx) => cloudCall('openstackRebuild', { cloud: i.cloud, serverId: server.value(ctx).id, imageId: image.value(ctx).id }),
      { danger: true },
    );
    const settled = waitForServer(
      'wait for the server',
      i.cloud,
      (ctx) => server.value(ctx).id,
      (ctx) => rebuildTarget(server.value(ctx)),
      (ctx) => image.value(ctx).id,
    );
    return {
      steps: [server, image, approval, rebuild, settled],
      output: (ctx) => {
        const s = settled.value(ctx);
        const im = image.value(ctx);
        return {
          server: { id: s.id, name: s.name, status: s.status, addresses: s.addresses },
          image: { id: im.id, name: im.name },
          before: server.value(ctx).status,
        };
      },
    };
  },
});
