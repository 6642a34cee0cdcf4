// Steps every OpenStack runbook builds from: reading a server (a refusal fails the run before anything
// changes), checking a new name is free, the bounded waits for an image or a server, and the guest clock
// resync the CERN page recommends after a snapshot. The calls and their plan lines are in cloud-calls.ts.
import { remote, type RemoteCommand } from '../engine/commands.js';
import { change, read, type RunContext, type Step } from '../engine/runbook.js';
import { cloudCall } from './cloud-calls.js';
import { imageNameRefusal, serverNameRefusal, type ImageView, type ServerView } from './rules.js';
import resyncClockScript from './scripts/resync-clock.sh';

/** Something a step's request needs from the run: the input, or a value of an earlier step. */
export type From<I, T> = (ctx: RunContext<I>) => T;

/** `openstack server show SERVER`; `refusal` ends the run Failed (nothing changed) when the server may not go on. */
export function readServer<I>(cloud: string, server: string, refusal: (s: ServerView) => string | undefined): Step<I, ServerView> {
  return read('read the server', () => cloudCall('openstackServer', { cloud, server }), { verdict: true, expect: refusal });
}

/** Glance allows two images of one name; these runbooks never make a second one. */
export function imageNameFree<I>(cloud: string, name: string): Step<I, ImageView[]> {
  return read(`check the image name ${name} is free`, () => cloudCall('openstackImagesNamed', { cloud, name }), {
    verdict: true,
    expect: (found, ctx) => imageNameRefusal(cloud, name, found, ctx.workflowId),
  });
}

/** A new server's name; `source`: the server being moved may hold it (a move within one project that keeps the name). */
export function serverNameFree<I>(cloud: string, name: string, source?: Step<I, ServerView>): Step<I, ServerView[]> {
  return read(`check the server name ${name} is free`, () => cloudCall('openstackServersNamed', { cloud, name }), {
    verdict: true,
    expect: (found, ctx) => serverNameRefusal(cloud, name, found, ctx.workflowId, source?.value(ctx).id),
  });
}

/**
 * Polls glance until the image is `active`, bounded by the worker's openstack.imageTimeoutSeconds. A dead
 * image fails the run (nobody can retry it into an active one); the bound parks it. `expect`: what else the
 * active image must prove.
 */
export function waitForImage<I>(
  name: string,
  cloud: string,
  imageId: From<I, string>,
  expect?: (im: ImageView, ctx: RunContext<I>) => string | undefined,
): Step<I, ImageView> {
  return read(name, (ctx) => cloudCall('openstackWaitImage', { cloud, imageId: imageId(ctx) }), {
    verdict: true,
    // The activity enforces the configured bound itself; this only caps one attempt far above it.
    timeout: '12 hours',
    ...(expect ? { expect } : {}),
  });
}

/** Polls the server until `until` with no task (and on `imageId`), bounded by openstack.serverTimeoutSeconds; ERROR fails the run. */
export function waitForServer<I>(
  name: string,
  cloud: string,
  serverId: From<I, string>,
  until: From<I, 'ACTIVE' | 'SHUTOFF'>,
  imageId: From<I, string>,
): Step<I, ServerView> {
  return read(name, (ctx) => cloudCall('openstackWaitServer', { cloud, serverId: serverId(ctx), until: until(ctx), imageId: imageId(ctx) }), {
    verdict: true,
    timeout: '12 hours',
  });
}

/** The command that steps the guest clock (scripts/resync-clock.sh). */
export function resyncClock(host: string): RemoteCommand {
  return remote(host, ['sh', '-c', resyncClockScript, 'resync-clock'], { sudo: true, timeoutSeconds: 120 });
}

/** Resyncs the guest clock over SSH; its value is what the guest said it did. */
export function resyncGuestClock<I>(host: string): Step<I, string> {
  return change('resync the guest clock', () => resyncClock(host), { parse: (r) => r.map((x) => x.stdoutTail.trim()).join(' ') });
}
