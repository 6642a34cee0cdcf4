// The server steps of the copy procedures (openstackClone, openstackMove, openstackRename): stop the
// source, create the new server from the cleaned image and verify it, delete the source, and wait for the
// source's DNS entry to expire.
import type { DnsGone } from '../../activities/openstack/dns.js';
import { change, once, read, type RunContext, type Step } from '../engine/runbook.js';
import { cloudCall } from './cloud-calls.js';
import { newServerRefusal, type ImageView, type ServerView } from './rules.js';
import { waitForServer, type From } from './steps.js';

/** `openstack server stop SERVER`, and our wait for SHUTOFF (the client has none); a stopped server is left as is. */
export function stopSource<I>(cloud: string, source: Step<I, ServerView>) {
  return change('stop the server', (ctx: RunContext<I>) => cloudCall('openstackStopServer', { cloud, serverId: source.value(ctx).id }));
}

/** `openstack server create --flavor F --image IMG --key-name K [--network N] NAME`, then until ACTIVE on that image, then a last look. */
export function createFromImage<I>(
  cloud: string,
  name: string,
  image: Step<I, ImageView>,
  o: { flavor: From<I, string>; keyName: From<I, string | null>; network?: string },
) {
  // Once: each call would be a server; the activity reuses this run's server by name.
  const create = once('create the server', (ctx: RunContext<I>) =>
    cloudCall('openstackCreateServer', {
      cloud,
      name,
      imageId: image.value(ctx).id,
      flavor: o.flavor(ctx),
      keyName: o.keyName(ctx),
      network: o.network,
      workflowId: ctx.workflowId,
    }),
  );
  const serverId = (ctx: RunContext<I>): string => create.value(ctx).server.id;
  const active = waitForServer(
    'wait for the new server',
    cloud,
    serverId,
    () => 'ACTIVE',
    (ctx: RunContext<I>) => image.value(ctx).id,
  );
  const verified = read('verify the new server', (ctx: RunContext<I>) => cloudCall('openstackServer', { cloud, server: serverId(ctx) }), {
    verdict: true,
    expect: (s, ctx) => newServerRefusal(s, name, image.value(ctx).id),
  });
  return { create, active, verified };
}

/** `openstack server delete SERVER` and the wait until nova no longer knows it; the activity checks the name against the ID first. */
export function deleteSource<I>(cloud: string, source: Step<I, ServerView>) {
  // A change that can run again: a second delete finds the server gone and says so.
  return change(
    'delete the source server',
    (ctx: RunContext<I>) => cloudCall('openstackDeleteServer', { cloud, serverId: source.value(ctx).id, name: source.value(ctx).name }),
    {
      danger: true,
      timeout: '12 hours',
    },
  );
}

/** CERN: "wait for 15 minutes or so until the DNS entry has expired. Check this with the 'host' command". */
export function waitDnsExpired<I>(name: string): Step<I, DnsGone> {
  return read('wait for the DNS entry to expire', () => cloudCall('openstackWaitDnsGone', { name }), { timeout: '12 hours' });
}
