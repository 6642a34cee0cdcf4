// A worker's own network namespace for the cluster bench (issue 23 point 4): its own network stack,
// reached from the machine's only over a veth pair, so that a worker's link can be cut alone.
// The lab's hosts and the Temporal frontend listen on loopback addresses of the root namespace
// (127.0.x.y, never reachable from outside the machine). Inside a worker's namespace only 127.0.0.1
// stays its own; the rest of 127/8 is routed over the veth, and both ends accept loopback addresses
// from a wire (route_localnet), which is what lets a packet for 127.0.90.11 cross. Root only.
import { execFileSync } from 'node:child_process';

export interface WorkerNetns {
  name: string;
  /** The root namespace's end of the veth: down means this worker is cut off. */
  hostIf: string;
  /** The worker's own address: what sshd logs as the peer of its sessions. */
  address: string;
}

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A fresh namespace `name` on 10.93.<index>.0/30 (an earlier bench's leftover is removed first). */
export function createWorkerNetns(name: string, index: number): WorkerNetns {
  removeWorkerNetns(name);
  const hostIf = `${name}-h`;
  const nsIf = `${name}-n`;
  const hostAddr = `10.93.${index}.1`;
  const address = `10.93.${index}.2`;
  ip('netns', 'add', name);
  ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
  ip('link', 'set', nsIf, 'netns', name);
  ip('addr', 'add', `${hostAddr}/30`, 'dev', hostIf);
  ip('link', 'set', hostIf, 'up');
  execFileSync('sysctl', ['-qw', `net.ipv4.conf.${hostIf}.route_localnet=1`]);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  // lo comes up holding 127.0.0.1/8, which would keep every loopback address inside the namespace.
  ip('-n', name, 'addr', 'del', '127.0.0.1/8', 'dev', 'lo');
  ip('-n', name, 'addr', 'add', '127.0.0.1/32', 'dev', 'lo');
  ip('-n', name, 'addr', 'add', `${address}/30`, 'dev', nsIf);
  ip('-n', name, 'link', 'set', nsIf, 'up');
  execFileSync('ip', ['netns', 'exec', name, 'sysctl', '-qw', `net.ipv4.conf.${nsIf}.route_localnet=1`, 'net.ipv4.conf.all.route_localnet=1']);
  ip('-n', name, 'route', 'add', '127.0.0.0/8', 'via', hostAddr, 'dev', nsIf, 'src', address);
  return { name, hostIf, address };
}

export function removeWorkerNetns(name: string): void {
  try {
    ip('netns', 'del', name); // takes its veth pair with it
  } catch {
    // not there
  }
  try {
    ip('link', 'del', `${name}-h`);
  } catch {
    // gone with the namespace
  }
}

/** Cuts (false) or restores (true) the worker's only link: its TCP connections stall, as on a dead switch port. */
export function setLink(ns: WorkerNetns, up: boolean): void {
  ip('link', 'set', ns.hostIf, up ? 'up' : 'down');
}

/** argv that runs a command inside the named namespace, or as it is without one (`ip netns exec` execs it: same pid). */
export const inNetns = (name: string | undefined, argv: string[]): string[] => (name ? ['ip', 'netns', 'exec', name, ...argv] : argv);
