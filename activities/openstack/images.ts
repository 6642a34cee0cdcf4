// OpenStack activities: nova and glance over HTTP with the worker's clouds.yaml. Reads are plain; the two
// changes (snapshot, rebuild) re-check the state right before acting and are guarded so that a retried
// attempt never makes a second image or a second rebuild. Waits are bounded by the worker config and treat
// every terminal error status as failure, unlike the client's `--wait`.
import { heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkerConfig } from '../../workers/config.js';
import { IMAGE_DEAD, IMAGE_PENDING, rebuildRefusal, snapshotRefusal, type ImageView, type ServerView } from '../../workflows/openstack/rules.js';
import { deadline, MADE_BY, makeCloudApi, osHintsOf, refuse, type GlanceImage } from './api.js';

export function makeOpenstackActivities(config: WorkerConfig, api = makeCloudApi(config)) {
  const { session, getServer, imagesNamed, getImage, waitServer, pollMs } = api;

  return {
    /**
     * The server by name or ID: status, task, image (null = volume-backed), addresses, and what nova and the
     * glance image it boots say about its OS (the runbooks refuse Windows where the CERN page does).
     */
    async openstackServer({ cloud, server }: { cloud: string; server: string }): Promise<ServerView> {
      const s = await getServer(cloud, server);
      if (!s.imageId) return s;
      // The base image may be gone (deleted after boot): then only the server's own metadata can tell.
      const r = await session(cloud).request<GlanceImage>('image', 'GET', `/images/${s.imageId}`, undefined, [404]);
      if (r.status === 404) return s;
      const image = { ...osHintsOf('image', r.body).osHints, ...(r.body.name ? { 'image name': r.body.name } : {}) };
      return { ...s, osHints: { ...s.osHints, ...image } };
    },

    /** The image by name or ID; a missing one is a refusal. */
    async openstackImage({ cloud, image }: { cloud: string; image: string }): Promise<ImageView> {
      const found = await getImage(cloud, image);
      if (!found) throw refuse(`cloud "${cloud}" has no image ${image}`);
      return found;
    },

    /** Every image with exactly this name (glance allows duplicates; the runbooks never make one). */
    async openstackImagesNamed({ cloud, name }: { cloud: string; name: string }): Promise<ImageView[]> {
      return imagesNamed(cloud, name);
    },

    /**
     * `openstack server image create --name NAME SERVER`, made safe to retry: an image of this name made by
     * this run is returned instead of asking for another; one made by anyone else is a refusal. Real nova
     * registers the image in glance before it answers, so a retry after a lost answer finds it by name.
     */
    async openstackCreateImage(a: { cloud: string; serverId: string; name: string; workflowId: string }): Promise<{ image: ImageView; reused: boolean }> {
      const existing = await imagesNamed(a.cloud, a.name);
      const ours = existing.find((i) => i.madeBy === a.workflowId);
      if (ours) return { image: ours, reused: true };
      if (existing.length) {
        throw refuse(
          `an image named ${a.name} already exists (${existing.map((i) => `${i.id}, ${i.status}${i.madeBy ? `, made by run ${i.madeBy}` : ''}`).join('; ')}): choose another name or delete it first`,
        );
      }
      const server = await getServer(a.cloud, a.serverId);
      const why = snapshotRefusal(server);
      if (why) throw refuse(why);
      const r = await session(a.cloud).request<{ image_id?: string }>('compute', 'POST', `/servers/${server.id}/action`, {
        createImage: { name: a.name, metadata: { [MADE_BY]: a.workflowId } },
      });
      // 2.45+ answers with the id; older nova only with a Location header ending in it.
      const id = r.body?.image_id ?? r.headers.get('location')?.split('/').pop();
      const image = id ? await getImage(a.cloud, id) : (await imagesNamed(a.cloud, a.name)).find((i) => i.madeBy === a.workflowId);
      if (!image)
        throw ApplicationFailure.create({
          message: `nova accepted the snapshot of ${server.name} but glance shows no image ${id ?? a.name} yet`,
          type: 'CloudInconsistent',
        });
      return { image, reused: false };
    },

    /** Polls glance until the image is `active`; `killed`, `deleted`, `pending_delete`, `deactivated` fail at once. */
    async openstackWaitImage({ cloud, imageId }: { cloud: string; imageId: string }): Promise<ImageView> {
      const until = deadline(config.openstack.imageTimeoutSeconds);
      for (;;) {
        const image = await getImage(cloud, imageId);
        if (!image) throw refuse(`image ${imageId} disappeared from glance while it was being made (deleted)`);
        heartbeat({ deadline: until, status: image.status });
        if (image.status === 'active') return image;
        if (IMAGE_DEAD.includes(image.status)) {
          throw refuse(
            `image ${image.name} (${image.id}) ended ${image.status}: the snapshot failed and will never become active; delete it before trying again`,
          );
        }
        if (!IMAGE_PENDING.includes(image.status)) throw refuse(`image ${image.name} (${image.id}) has an unknown status ${image.status}`);
        if (Date.now() > until) {
          throw ApplicationFailure.create({
            message: `image ${image.name} (${image.id}) is still ${image.status} after ${config.openstack.imageTimeoutSeconds} s (openstack.imageTimeoutSeconds): retry to wait again, or abort`,
            type: 'CloudTimeout',
            nonRetryable: true,
          });
        }
        await sleep(pollMs());
      }
    },

    /**
     * `openstack server rebuild --image IMAGE SERVER` (keeps ID, name, ports and addresses; wipes the root
     * disk). The state is checked again here, after the gate. A server already rebuilding to this image is an
     * earlier attempt of this step whose answer was lost: reported, not asked again.
     */
    async openstackRebuild(a: { cloud: string; serverId: string; imageId: string }): Promise<{ serverId: string; imageId: string; alreadyStarted: boolean }> {
      const server = await getServer(a.cloud, a.serverId);
      if (server.status === 'REBUILD' && server.imageId === a.imageId) return { serverId: server.id, imageId: a.imageId, alreadyStarted: true };
      const why = rebuildRefusal(server);
      if (why) throw refuse(why);
      const image = await getImage(a.cloud, a.imageId);
      if (!image || image.status !== 'active') throw refuse(`image ${a.imageId} is ${image?.status ?? 'gone'}, not active: no rebuild`);
      await session(a.cloud).request('compute', 'POST', `/servers/${server.id}/action`, { rebuild: { imageRef: image.id } });
      return { serverId: server.id, imageId: image.id, alreadyStarted: false };
    },

    /**
     * `openstack server stop SERVER`, then our own wait for SHUTOFF (the client's `stop` has none). Nova answers
     * 409 to stopping a stopped server: an already stopped one is reported, not asked, and a 409 from a race
     * (stopped meanwhile) is read again rather than failed.
     */
    async openstackStopServer(a: { cloud: string; serverId: string }): Promise<{ server: ServerView; alreadyStopped: boolean }> {
      const s = await getServer(a.cloud, a.serverId);
      if (s.status === 'SHUTOFF' && !s.taskState) return { server: s, alreadyStopped: true };
      if (s.taskState !== 'powering-off') {
        if (s.taskState || s.status !== 'ACTIVE')
          throw refuse(`server ${s.name} is ${s.status} (task ${s.taskState ?? 'none'}): only an ACTIVE server can be stopped`);
        await session(a.cloud).request('compute', 'POST', `/servers/${s.id}/action`, { 'os-stop': null }, [409]);
      }
      return { server: await waitServer({ cloud: a.cloud, serverId: s.id, until: 'SHUTOFF' }), alreadyStopped: false };
    },

    /** Polls nova until the server is `until` with no task and runs `imageId`; ERROR fails at once. */
    async openstackWaitServer(a: { cloud: string; serverId: string; until: 'ACTIVE' | 'SHUTOFF'; imageId?: string }): Promise<ServerView> {
      return waitServer(a);
    },
  };
}
