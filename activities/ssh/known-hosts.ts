// A host's key as the worker has it pinned in the inventory (public data). rearBackup writes it into the
// node's root known_hosts before ReaR's lftp and sshfs connect to the store: the node then trusts exactly
// the key the worker verifies, never whatever answers first (ssh-keyscan would be trust on first use).
import { ApplicationFailure } from '@temporalio/common';
import type { Inventory } from '../../workers/inventory.js';

export interface PinnedHostKey {
  host: string;
  port: number;
  /** "<type> <base64>", as in the inventory. */
  key: string;
}

export function makeKnownHostsActivities(inventory: Inventory) {
  return {
    async pinnedHostKey(req: { host: string }): Promise<PinnedHostKey> {
      const h = inventory.hosts[req.host];
      if (!h) throw ApplicationFailure.create({ message: `${req.host} is not in the inventory`, type: 'UnknownHost', nonRetryable: true });
      return { host: req.host, port: h.port, key: h.hostKey };
    },
  };
}
