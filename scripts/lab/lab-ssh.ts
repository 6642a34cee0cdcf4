// OpenSSH into a lab host, outside the code under test: what tests and benches use as an independent
// check of a host's state, and as the raw baseline a runbook step is compared with. The lab's hosts are
// throwaway and their keys change with every lab, hence no known_hosts.
import { execFileSync } from 'node:child_process';
import type { Inventory, InventoryHost } from '../../workers/inventory.js';

/** `ssh … user@address` for a lab host: a command line follows it. */
export function labSshArgv(h: Pick<InventoryHost, 'identityFile' | 'port' | 'user' | 'address'>): string[] {
  return [
    'ssh',
    '-i',
    h.identityFile,
    '-p',
    String(h.port),
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    `${h.user}@${h.address}`,
  ];
}

/** Runs a command line on a lab host; its stdout. */
export function onLabHost(inventory: Inventory, host: string, script: string): string {
  const [ssh, ...args] = labSshArgv(inventory.hosts[host]!);
  return execFileSync(ssh!, [...args, script], { encoding: 'utf8' });
}
