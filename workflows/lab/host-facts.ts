// hostFacts: hostname, OS, kernel, uptime and free disk of each host. Read-only; proves UI/CLI → worker →
// SSH → real sshd → result in history.
import { z } from 'zod';
import { common, hostName } from '../engine/input-fields.js';
import { activity, read, runbook } from '../engine/runbook.js';

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
  // Read-only and over in seconds: a new build may take it over.
  versioning: 'auto-upgrade',
  procedure: (i) => {
    const facts = i.hosts.map((host) =>
      read(`facts of ${host}`, () =>
        activity('collectHostFacts', { host }, (r) => [`${r.host}$ hostname; cat /etc/os-release; uname -r; cat /proc/uptime; df -P -B1 / /var`]),
      ),
    );
    return {
      steps: facts,
      output: (ctx) => Object.fromEntries(i.hosts.map((h, k) => [h, facts[k]!.value(ctx)])),
    };
  },
});
