// Steps the OpenStack runbooks share: reading a server or an image (read-only, with the refusal that
// applies), the bounded waits, and the guest clock resync the CERN page recommends after a snapshot.
import { remote, type RemoteCommand } from '../engine/commands.js';
import type { ImageView, ServerView } from './rules.js';
import { call, type RunContext, type StepEntry } from '../engine/runbook.js';

interface CloudInput {
  cloud: string;
  server: string;
}

/** `openstack server show SERVER -f json`, refused (run Failed, nothing changed) when `refusal` says so. */
export function readServer<I extends CloudInput>(refusal: (s: ServerView) => string | undefined): StepEntry<I> {
  return call<I>(
    'read the server',
    'openstackServer',
    (ctx) => ({ cloud: ctx.input.cloud, server: ctx.input.server }),
    (ctx) => [`nova GET /servers/${ctx.input.server} (cloud ${ctx.input.cloud})`],
    {
      idempotent: true,
      readOnly: true,
      as: 'server',
      verdict: true,
      expect: (s) => refusal(s as ServerView),
    },
  );
}

export const serverOf = <I>(ctx: RunContext<I>): ServerView => ctx.get<ServerView>('server');

/** Polls the image until `active` (bounded by the worker's openstack.imageTimeoutSeconds); `killed` etc. fail the run. */
export function waitForImage<I extends CloudInput>(imageId: (ctx: RunContext<I>) => string): StepEntry<I> {
  return call<I>(
    'wait for the image to become active',
    'openstackWaitImage',
    (ctx) => ({ cloud: ctx.input.cloud, imageId: imageId(ctx) }),
    (ctx) => [`glance GET /v2/images/${imageId(ctx)} until active; killed, deleted, pending_delete fail`],
    {
      idempotent: true,
      readOnly: true,
      as: 'image',
      // A dead image fails the run (nobody can retry it into an active one); a timeout parks it.
      verdict: true,
      // The activity enforces the configured bound itself; this only caps one attempt far above it.
      timeout: '12 hours',
    },
  );
}

/** Polls the server until `until` with no task (bounded by openstack.serverTimeoutSeconds); ERROR fails the run. */
export function waitForServer<I extends CloudInput>(
  until: (ctx: RunContext<I>) => 'ACTIVE' | 'SHUTOFF',
  imageId?: (ctx: RunContext<I>) => string,
): StepEntry<I> {
  return call<I>(
    'wait for the server',
    'openstackWaitServer',
    (ctx) => ({ cloud: ctx.input.cloud, serverId: serverOf(ctx).id, until: until(ctx), imageId: imageId?.(ctx) }),
    (ctx) => [`nova GET /servers/${serverOf(ctx).id} until ${until(ctx)} with no task${imageId ? ` on image ${imageId(ctx)}` : ''}; ERROR fails`],
    { idempotent: true, readOnly: true, as: 'settled', verdict: true, timeout: '12 hours' },
  );
}

/**
 * Steps the guest clock after a snapshot froze it (CERN: "resync the VM clocks using the NTP daemon or
 * running ntpdate after the snapshot"). chrony if present, else systemd-timesyncd; a guest with neither
 * says so in the output instead of failing a snapshot that is already made.
 */
export function resyncClock(host: string): RemoteCommand {
  const script = [
    'if command -v chronyc >/dev/null 2>&1; then chronyc -a makestep && echo "chronyc makestep: clock stepped"; exit $?; fi',
    'if systemctl cat systemd-timesyncd.service >/dev/null 2>&1; then systemctl restart systemd-timesyncd && echo "systemd-timesyncd restarted"; exit $?; fi',
    'echo "no NTP client (chronyc, systemd-timesyncd) on $(hostname): clock not resynced"',
  ].join('\n');
  return remote(host, ['sh', '-c', script], { sudo: true, timeoutSeconds: 120 });
}

export type { ImageView, ServerView };
