// The cloud API the OpenStack activities share: one Keystone session per cloud of the worker's clouds.yaml,
// nova servers and glance images read into the small views the workflows see, and the bounded server wait.
import { activityInfo, cancellationSignal, heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkerConfig } from '../../workers/config.js';
import { OS_KEYS, type ImageView, type ServerView } from '../../workflows/openstack/rules.js';
import { readCloud } from './clouds.js';
import { OpenstackSession } from './session.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Image property that ties a snapshot to the run that asked for it. */
export const MADE_BY = 'runbook_workflow_id';

export interface NovaServer {
  id: string;
  name: string;
  status: string;
  'OS-EXT-STS:task_state'?: string | null;
  image: '' | { id: string } | null;
  /** Microversion 2.47+: the flavor as booted, by name. */
  flavor?: { original_name?: string; id?: string };
  key_name?: string | null;
  metadata?: Record<string, string>;
  addresses?: Record<string, { addr: string }[]>;
  fault?: { message?: string };
}

export type GlanceImage = Record<string, unknown> & { id: string; name: string | null; status: string };

export function serverView(s: NovaServer): ServerView {
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    taskState: s['OS-EXT-STS:task_state'] ?? null,
    imageId: s.image && typeof s.image === 'object' ? s.image.id : null,
    addresses: Object.values(s.addresses ?? {}).flatMap((a) => a.map((x) => x.addr)),
    flavor: s.flavor?.original_name ?? s.flavor?.id ?? null,
    keyName: s.key_name ?? null,
    madeBy: s.metadata?.[MADE_BY] ?? null,
    ...osHintsOf('server', s.metadata ?? {}),
    ...(s.fault?.message ? { fault: s.fault.message } : {}),
  };
}

/** The OS keys among nova metadata or glance properties, as `{ osHints: { "<where> <key>": value } }` (nothing when none). */
export function osHintsOf(where: 'server' | 'image', props: Record<string, unknown>): { osHints?: Record<string, string> } {
  const found = Object.fromEntries(OS_KEYS.filter((k) => typeof props[k] === 'string').map((k) => [`${where} ${k}`, props[k] as string]));
  return Object.keys(found).length ? { osHints: found } : {};
}

export function imageView(i: GlanceImage): ImageView {
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
export const refuse = (message: string) => ApplicationFailure.create({ message, type: 'CheckFailed', nonRetryable: true });

/**
 * Our own deadline, kept in the heartbeat details so a retried attempt (worker crash) keeps the original
 * bound instead of starting a fresh one.
 */
export function deadline(seconds: number): number {
  const kept = (activityInfo().heartbeatDetails as { deadline?: number } | undefined)?.deadline;
  return kept ?? Date.now() + seconds * 1000;
}

export function makeCloudApi(config: WorkerConfig) {
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

  /** Every server with exactly this name (nova's filter is a regex: anchored, dots escaped, then compared). */
  async function serversNamed(cloud: string, name: string): Promise<ServerView[]> {
    const pattern = `^${name.replace(/[.]/g, '\\.')}$`;
    const r = await session(cloud).request<{ servers: NovaServer[] }>('compute', 'GET', `/servers/detail?name=${encodeURIComponent(pattern)}`);
    return r.body.servers.filter((s) => s.name === name).map(serverView);
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
        if (a.imageId && s.imageId !== a.imageId)
          throw refuse(`server ${s.name} is ${s.status} but runs image ${s.imageId}, not ${a.imageId}: the rebuild did not take`);
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

  return { session, pollMs, getServer, serversNamed, imagesNamed, getImage, waitServer };
}

export type CloudApi = ReturnType<typeof makeCloudApi>;
