// waitForReboot: after a command that reboots a host (rpm-ostree rollback -r, systemctl reboot), wait
// until the host answers SSH again with a boot id other than the one read before the reboot. A host
// that answers with the old boot id has not rebooted yet (the command returns before the link drops),
// so "SSH answers" alone would be a false positive. Bounded and heartbeating.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { SshPool } from './ssh.js';

export interface RebootWait {
  host: string;
  /** `cat /proc/sys/kernel/random/boot_id` before the reboot. */
  previousBootId: string;
  timeoutSeconds: number;
}

export interface RebootSeen {
  host: string;
  bootId: string;
  waitedMs: number;
  /** Polls that found the host unreachable (the reboot window) or still on the old boot. */
  unreachablePolls: number;
  oldBootPolls: number;
  /** The host key the link pinned (the inventory's): the one the host's sshd proved it holds. */
  hostKey: string;
}

const POLL_MS = 1000;

export function makeRebootActivities(ssh: SshPool) {
  return {
    async waitForReboot(req: RebootWait): Promise<RebootSeen> {
      const ctx = Context.current();
      const started = Date.now();
      let unreachablePolls = 0;
      let oldBootPolls = 0;
      const hb = setInterval(() => ctx.heartbeat({ unreachablePolls, oldBootPolls }), 3000);
      try {
        for (;;) {
          if (Date.now() - started > req.timeoutSeconds * 1000) {
            throw ApplicationFailure.create({
              message: `${req.host} did not come back with a new boot id within ${req.timeoutSeconds}s (${unreachablePolls} polls unreachable, ${oldBootPolls} on the old boot ${req.previousBootId})`,
              type: 'RebootTimeout',
              nonRetryable: true,
            });
          }
          let out = '';
          const r = await Promise.race([
            // Unreachable is the reboot window; another host key is a finding, not a wait.
            ssh.exec(req.host, 'cat /proc/sys/kernel/random/boot_id', { stdout: (b) => (out += b) }).catch((err: unknown) => {
              if (err instanceof ApplicationFailure && err.type === 'HostKeyMismatch') throw err;
              return undefined;
            }),
            new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
          ]);
          const bootId = out.trim();
          if (r?.code === 0 && /^[0-9a-f-]{36}$/.test(bootId)) {
            if (bootId !== req.previousBootId)
              return {
                host: req.host,
                bootId,
                waitedMs: Date.now() - started,
                unreachablePolls,
                oldBootPolls,
                hostKey: ssh.host(req.host).hostKey,
              };
            oldBootPolls++;
          } else {
            unreachablePolls++;
          }
          if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
      } finally {
        clearInterval(hb);
      }
    },
  };
}
