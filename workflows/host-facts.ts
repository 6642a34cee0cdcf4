// hostFacts: hostname, OS, kernel, uptime and free disk of each host. Read-only; proves UI/CLI → worker →
// SSH → real sshd → result in history.
import { z } from 'zod';
import type { HostFacts } from '../activities/host-facts.js';
import { common, hostName } from './input-fields.js';
import { call, runbook } from './runbook.js';

export const HostFactsInput = () => {
  const { requestedBy, dryRun } = common();
  return z.strictObject({
    hosts: z.array(hostName()).min(1).max(50),
    requestedBy: requestedBy.default('unknown'),
    dryRun,
  });
};

export const hostFacts = runbook({
  name: 'hostFacts',
  input: HostFactsInput,
  hosts: (i) => i.hosts,
  steps: (i) =>
    i.hosts.map((host) =>
      call(`facts of ${host}`, 'collectHostFacts', () => ({ host }), () => [`${host}$ hostname; cat /etc/os-release; uname -r; cat /proc/uptime; df -P -B1 / /var`], {
        idempotent: true,
        readOnly: true,
        as: host,
      }),
    ),
  output: (ctx) => Object.fromEntries(ctx.input.hosts.map((h) => [h, ctx.get<HostFacts>(h)])),
});
