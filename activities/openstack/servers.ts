// Creating and deleting servers for openstackClone/Move/Rename. Both are guarded for retries: a server this
// run created (metadata runbook_workflow_id) is found by name and returned instead of asking nova for a
// second one; a delete that finds the server gone reports it. Waits are bounded by openstack.serverTimeoutSeconds.
import { heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkerConfig } from '../../workers/config.js';
import type { ServerView } from '../../workflows/openstack/rules.js';
import { deadline, MADE_BY, refuse, type CloudApi, type NovaServer } from './api.js';

export interface CreateServerRequest {
  cloud: string;
  name: string;
  imageId: string;
  /** A flavor's name or ID. */
  flavor: string;
  keyName: string | null;
  /** A network UUID; none: nova's "auto" (the project's one network). */
  network?: string;
  workflowId: string;
}

export function makeOpenstackServerActivities(api: CloudApi, config: WorkerConfig) {
  const { session, serversNamed, getImage } = api;

  async function flavorId(cloud: string, flavor: string): Promise<string> {
    const r = await session(cloud).request<{ flavors: { id: string; name: string }[] }>('compute', 'GET', '/flavors');
    const found = r.body.flavors.find((f) => f.name === flavor || f.id === flavor);
    if (!found) throw refuse(`cloud "${cloud}" has no flavor ${flavor} (it has: ${r.body.flavors.map((f) => f.name).join(', ')})`);
    return found.id;
  }

  return {
    /** Every server with exactly this name: a new server's name must be free. */
    async openstackServersNamed({ cloud, name }: { cloud: string; name: string }): Promise<ServerView[]> {
      return serversNamed(cloud, name);
    },

    /**
     * `openstack server create --flavor F --image IMG --key-name K [--network N] NAME`, made safe to retry: a
     * server of this name made by this run is returned (reused), one made by anyone else is a refusal.
     */
    async openstackCreateServer(a: CreateServerRequest): Promise<{ server: ServerView; reused: boolean }> {
      const named = await serversNamed(a.cloud, a.name);
      const ours = named.find((s) => s.madeBy === a.workflowId);
      if (ours) return { server: ours, reused: true };
      if (named.length) throw refuse(`cloud "${a.cloud}" already has a server named ${a.name} (${named.map((s) => `${s.id}, ${s.status}`).join('; ')})`);
      const image = await getImage(a.cloud, a.imageId);
      if (image?.status !== 'active') throw refuse(`image ${a.imageId} is ${image?.status ?? 'gone'}, not active: no server from it`);
      const os = session(a.cloud);
      if (a.keyName) {
        const k = await os.request('compute', 'GET', `/os-keypairs/${encodeURIComponent(a.keyName)}`, undefined, [404]);
        if (k.status === 404) throw refuse(`cloud "${a.cloud}" has no key pair ${a.keyName} for this user`);
      }
      const r = await os.request<{ server: { id: string } }>('compute', 'POST', '/servers', {
        server: {
          name: a.name,
          imageRef: image.id,
          flavorRef: await flavorId(a.cloud, a.flavor),
          ...(a.keyName ? { key_name: a.keyName } : {}),
          networks: a.network ? [{ uuid: a.network }] : 'auto',
          metadata: { [MADE_BY]: a.workflowId },
        },
      });
      return { server: await api.getServer(a.cloud, r.body.server.id), reused: false };
    },

    /**
     * `openstack server delete SERVER`, then our wait until nova no longer knows it. The name is checked
     * against the ID first: this never deletes a server other than the one the gate showed.
     */
    async openstackDeleteServer(a: { cloud: string; serverId: string; name: string }): Promise<{ id: string; alreadyGone: boolean }> {
      const os = session(a.cloud);
      const read = () => os.request<{ server: NovaServer }>('compute', 'GET', `/servers/${a.serverId}`, undefined, [404]);
      const first = await read();
      if (first.status === 404) return { id: a.serverId, alreadyGone: true };
      if (first.body.server.name !== a.name) throw refuse(`server ${a.serverId} is now named ${first.body.server.name}, not ${a.name}: not deleted`);
      await os.request('compute', 'DELETE', `/servers/${a.serverId}`, undefined, [404]);
      const until = deadline(config.openstack.serverTimeoutSeconds);
      for (;;) {
        const r = await read();
        if (r.status === 404) return { id: a.serverId, alreadyGone: false };
        const s = r.body.server;
        heartbeat({ deadline: until, status: s.status });
        if (s.status === 'ERROR') throw refuse(`server ${a.name} went to ERROR while being deleted${s.fault?.message ? `: ${s.fault.message}` : ''}`);
        if (Date.now() > until) {
          throw ApplicationFailure.create({
            message: `server ${a.name} is still ${s.status} (task ${s['OS-EXT-STS:task_state'] ?? 'none'}) ${config.openstack.serverTimeoutSeconds} s after its delete (openstack.serverTimeoutSeconds): retry to wait again, or abort`,
            type: 'CloudTimeout',
            nonRetryable: true,
          });
        }
        await sleep(api.pollMs());
      }
    },
  };
}
