// The DNS wait of a move that keeps the server's name: the CERN page deletes the source, then waits "15
// minutes or so until the DNS entry has expired. Check this with the 'host' command". Here: a resolver lookup
// (A record) every openstack.dns.pollSeconds until the name no longer resolves, bounded by
// openstack.dns.timeoutSeconds. Only NXDOMAIN or "no data" counts as gone; a lookup that fails otherwise
// (timeout, refused) proves nothing and the wait goes on.
import { Resolver } from 'node:dns/promises';
import { heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkerConfig } from '../../workers/config.js';
import { deadline } from './api.js';

export interface DnsGone {
  fqdn: string;
  lookups: number;
  /** The address it still had at the first lookup, if any. */
  hadAddress: string | null;
}

export function makeOpenstackDnsActivities(config: WorkerConfig) {
  return {
    async openstackWaitDnsGone({ name }: { name: string }): Promise<DnsGone> {
      const dns = config.openstack.dns;
      const fqdn = dns.domain ? `${name}.${dns.domain}` : name;
      const resolver = new Resolver({ timeout: 3000, tries: 1 });
      if (dns.servers.length) resolver.setServers(dns.servers);
      const until = deadline(dns.timeoutSeconds);
      let hadAddress: string | null = null;
      let last = '';
      for (let lookups = 1; ; lookups++) {
        try {
          const addrs = await resolver.resolve4(fqdn);
          hadAddress ??= addrs[0] ?? null;
          last = `still resolves to ${addrs.join(', ')}`;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOTFOUND' || code === 'ENODATA') return { fqdn, lookups, hadAddress };
          last = `lookup failed (${code ?? (err as Error).message}): cannot tell whether it expired`;
        }
        heartbeat({ deadline: until, last });
        if (Date.now() > until) {
          throw ApplicationFailure.create({
            message: `${fqdn} ${last} after ${dns.timeoutSeconds} s (openstack.dns.timeoutSeconds): retry to wait again, or abort`,
            type: 'CloudTimeout',
            nonRetryable: true,
          });
        }
        await sleep(dns.pollSeconds * 1000);
      }
    },
  };
}
