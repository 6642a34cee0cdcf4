// OpenStack activities: nova and glance over HTTP with the worker's clouds.yaml. Reads are plain; the two
// changes (snapshot, rebuild) re-check the state right before acting and are guarded so that a retried
// attempt never makes a second image or a second rebuild. Waits are bounded by the worker config and treat
// every terminal error status as failure, unlike the client's `--wait`.
import { activityInfo, cancellationSignal, heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkerConfig } from '../workers/config.js';
import { IMAGE_DEAD, IMAGE_PENDING, rebuildRefusal, snapshotRefusal, type ImageView, type ServerView } from '../workflows/openstack-rules.js';
import { readCloud } from './openstack-clouds.js';
import { OpenstackSession } from './openstack-session.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Image property that ties a snapshot to the run that asked for it. */
const MADE_BY = 'runbook_workflow_id';

interface NovaServer {
  id: string;
  name: string;
  status: string;
  'OS-EXT-STS:task_state'?: string | null;
  image: '' | { id: string } | null;
  addresses?: Record<string, { addr: string }[]>;
  fault?: { message?: string };
}

type GlanceImage = Record<string, unknown> & { id: string; name: string | null; status: string };

function serverView(s: NovaServer): ServerView {
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    taskState: s['OS-EXT-STS:task_state'] ?? null,
    imageId: s.image && typeof s.image === 'object' ? s.image.id : null,
    addresses: Object.values(s.addresses ?? {}).flatMap((a) => a.map((x) => x.addr)),
    ...(s.fault?.message ? { fault: s.fault.message } : {}),
  };
}

function imageView(i: GlanceImage): ImageView {
  const str = (k: string): string | null => (typeof i[k] === 'string' ? (i[k] as string) : null);
  return {
    id: i.id,
    name: i.name ?? '',
    status: i.status,
    diskFormat: str('disk_format'),
    size: typeof i.size === 'number' ? i.size : null,
    checksum: str('checksum'),
    hashAlgo: str('os_hash_algo'),
    hashValue: str('os_hash_value'),
    madeBy: str(MADE_BY),
  };
}

/** A refusal: the step fails (or parks) with this message and is not retried automatically. */
const refuse = (message: string) => ApplicationFailure.create({ message, type: 'CheckFailed', nonRetryable: true });

/**
 * Our own deadline, kept in the heartbeat details so a retried attempt (worker crash) keeps the original
 * bound instead of starting a fresh one.
 */
function deadline(seconds: number): number {
  const kept = (activityInfo().heartbeatDetails as { deadline?: number } | undefined)?.deadline;
  return kept ?? Date.now() + seconds * 1000;
}

export function makeOpenstackActivities(config: WorkerConfig) {
  const sessions = new Map<string, { entry: string; session: OpenstackSession }>();
  // clouds.yaml is read on every call (a small file): rotated credentials apply without a worker restart,
  // and the cached token is kept only while the entry is unchanged.
  const session = (cloud: string): OpenstackSession => {
    const entry = readCloud(cloud, config.openstack.cloudsYaml);
    const key = JSON.stringify(entry);
    const cached = sessions.get(cloud);
    if (cached?.entry === key) return cached.session;
    const s = new OpenstackSession(cloud, entry, () => {
      try {
        return cancellationSignal();
      } catch {
        return undefined; // outside an activity (never in production)
      }
    });
    sessions.set(cloud, { entry: key, session: s });
    return s;
  };
  const pollMs = (): number => config.openstack.pollSeconds * 1000;

  async function getServer(cloud: string, ref: string): Promise<ServerView> {
    const os = session(cloud);
    if (UUID.test(ref)) {
      const r = await os.request<{ server: NovaServer }>('compute', 'GET', `/servers/${ref}`, undefined, [404]);
      if (r.status !== 404) return serverView(r.body.server);
    }
    // nova's name filter is a regular expression: anchor it and escape the dots, then match exactly.
    const pattern = `^${ref.replace(/[.]/g, '\\.')}$`;
    const r = await os.request<{ servers: NovaServer[] }>('compute', 'GET', `/servers/detail?name=${encodeURIComponent(pattern)}`);
    const found = r.body.servers.filter((s) => s.name === ref);
    if (found.length === 0) throw refuse(`cloud "${cloud}" has no server named ${ref}`);
    if (found.length > 1) throw refuse(`cloud "${cloud}" has ${found.length} servers named ${ref} (${found.map((s) => s.id).join(', ')}): give the ID`);
    return serverView(found[0]!);
  }

  async function imagesNamed(cloud: string, name: string): Promise<ImageView[]> {
    const r = await session(cloud).request<{ images: GlanceImage[] }>('image', 'GET', `/images?name=${encodeURIComponent(name)}`);
    return r.body.images.filter((i) => i.name === name).map(imageView);
  }

  async function getImage(cloud: string, ref: string): Promise<ImageView | undefined> {
    if (UUID.test(ref)) {
      const r = await session(cloud).request<GlanceImage>('image', 'GET', `/images/${ref}`, undefined, [404]);
      if (r.status !== 404) return imageView(r.body);
    }
    const named = await imagesNamed(cloud, ref);
    if (named.length > 1) throw refuse(`cloud "${cloud}" has ${named.length} images named ${ref} (${named.map((i) => i.id).join(', ')}): give the ID`);
    return named[0];
  }

  /** Polls nova until the server is `a.until` with no task (and runs `a.imageId`); ERROR fails at once. */
  async function waitServer(a: { cloud: string; serverId: string; until: 'ACTIVE' | 'SHUTOFF'; imageId?: string }): Promise<ServerView> {
    const until = deadline(config.openstack.serverTimeoutSeconds);
    for (;;) {
      const s = await getServer(a.cloud, a.serverId);
      heartbeat({ deadline: until, status: s.status, task: s.taskState });
      if (s.status === 'ERROR') throw refuse(`server ${s.name} went to ERROR${s.fault ? `: ${s.fault}` : ''}`);
      if (!s.taskState && (s.status === 'ACTIVE' || s.status === 'SHUTOFF')) {
        if (s.status !== a.until) throw refuse(`server ${s.name} ended ${s.status}, expected ${a.until}`);
        if (a.imageId && s.imageId !== a.imageId) throw refuse(`server ${s.name} is ${s.status} but runs image ${s.imageId}, not ${a.imageId}: the rebuild did not take`);
        return s;
      }
      if (Date.now() > until) {
        throw ApplicationFailure.create({
          message: `server ${s.name} is still ${s.status} (task ${s.taskState ?? 'none'}) after ${config.openstack.serverTimeoutSeconds} s (openstack.serverTimeoutSeconds): look at it in the cloud, then retry to wait again, or abort`,
          type: 'CloudTimeout',
          nonRetryable: true,
        });
      }
      await sleep(pollMs());
    }
  }

  return {
    /** The server by name or ID: status, task, image (null = volume-backed), addresses. */
    async openstackServer({ cloud, server }: { cloud: string; server: string }): Promise<ServerView> {
      return getServer(cloud, server);
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
        throw refuse(`an image named ${a.name} already exists (${existing.map((i) => `${i.id}, ${i.status}${i.madeBy ? `, made by run ${i.madeBy}` : ''}`).join('; ')}): choose another name or delete it first`);
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
      if (!image) throw ApplicationFailure.create({ message: `nova accepted the snapshot of ${server.name} but glance shows no image ${id ?? a.name} yet`, type: 'CloudInconsistent' });
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
          throw refuse(`image ${image.name} (${image.id}) ended ${image.status}: the snapshot failed and will never become active; delete it before trying again`);
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
        if (s.taskState || s.status !== 'ACTIVE') throw refuse(`server ${s.name} is ${s.status} (task ${s.taskState ?? 'none'}): only an ACTIVE server can be stopped`);
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
