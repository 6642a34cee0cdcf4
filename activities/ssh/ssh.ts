// SSH connections to inventory hosts: one reused connection per host per worker, the host key pinned from
// the inventory (an unknown or changed key is refused, never learned), key auth from the identity file.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { Client, type ClientChannel } from 'ssh2';
import type { Inventory, InventoryHost } from '../../workers/inventory.js';

export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

export function unknownHost(host: string, inventory: Inventory): ApplicationFailure {
  return ApplicationFailure.create({
    message: `unknown host "${host}": not in the inventory (known: ${Object.keys(inventory.hosts).join(', ')})`,
    type: 'UnknownHost',
    nonRetryable: true,
  });
}

/**
 * ssh2 writes every SSH packet with its own socket write, one system call each: relaying a 1 GiB dump
 * that was ~35,000 calls and the largest single item of the worker's CPU profile (writeBuffer, 26% of
 * its busy time). Writes made in the same tick now leave as one writev: the socket is corked at the
 * first and uncorked on the next tick, so nothing waits longer than the current tick.
 */
function coalesceWrites(sock: Socket): void {
  const write = sock.write.bind(sock) as (...args: unknown[]) => boolean;
  let corked = false;
  sock.write = ((...args: unknown[]): boolean => {
    if (!corked) {
      corked = true;
      sock.cork();
      process.nextTick(() => {
        corked = false;
        sock.uncork();
      });
    }
    return write(...args);
  }) as Socket['write'];
}

export interface ExecOutcome {
  code: number | null;
  signal?: string;
}

/** One SSH connection and the session channels open on it now. */
interface Link {
  client: Promise<Client>;
  open: number;
}

/** A host's connections, and the commands waiting for a free session on them (in arrival order). */
interface HostLinks {
  links: Link[];
  waiting: (() => void)[];
}

/**
 * SSH to inventory hosts. Commands share a few long-lived connections per host: at most `maxSessions`
 * channels on each (sshd refuses one more with "open failed": its MaxSessions is 10 by default) and at
 * most `maxConnections` connections; a command beyond that waits for a session to close. A dropped
 * link is replaced on the next command.
 */
export class SshPool {
  private readonly hosts = new Map<string, HostLinks>();

  constructor(private readonly inventory: Inventory) {}

  host(name: string): InventoryHost {
    const h = this.inventory.hosts[name];
    if (!h) throw unknownHost(name, this.inventory);
    return h;
  }

  /**
   * Opens one session channel running `command` on `name`. `attach` runs inside ssh2's exec callback,
   * before any await: ssh2 can parse a fast command's exit-status and close in the same packet batch as
   * the exec reply, and a listener added one microtask later lost the exit code (measured: code null about
   * once in 120 fast commands). The session is given back when the channel closes.
   */
  async channel<T>(name: string, command: string, attach: (ch: ClientChannel) => T): Promise<T> {
    const h = this.host(name);
    const links = this.linksOf(name);
    const link = await this.session(name, h, links);
    let given = false;
    const giveBack = (): void => {
      if (given) return;
      given = true;
      link.open--;
      links.waiting.shift()?.();
    };
    try {
      const c = await link.client;
      return await new Promise<T>((resolve, reject) => {
        c.exec(command, (err, ch) => {
          if (err) return reject(err);
          ch.on('close', giveBack);
          try {
            resolve(attach(ch));
          } catch (e) {
            reject(e);
          }
        });
      });
    } catch (err) {
      giveBack();
      throw err;
    }
  }

  private linksOf(name: string): HostLinks {
    let l = this.hosts.get(name);
    if (!l) this.hosts.set(name, (l = { links: [], waiting: [] }));
    return l;
  }

  /** A link with a free session (taken), a new link while under the cap, or a wait for one to free up. */
  private async session(name: string, h: InventoryHost, l: HostLinks): Promise<Link> {
    for (;;) {
      let link = l.links.find((k) => k.open < h.maxSessions);
      if (!link && l.links.length < h.maxConnections) {
        const fresh = { open: 0 } as Link;
        fresh.client = this.open(name, () => this.drop(l, fresh));
        fresh.client.catch(() => undefined); // reported to the command that opened it
        l.links.push(fresh);
        link = fresh;
      }
      if (link) {
        link.open++;
        return link;
      }
      await new Promise<void>((wake) => l.waiting.push(wake));
    }
  }

  /** A connection closed or never opened: commands waiting for a session may open a new one instead. */
  private drop(l: HostLinks, link: Link): void {
    const i = l.links.indexOf(link);
    if (i < 0) return;
    l.links.splice(i, 1);
    for (const wake of l.waiting.splice(0)) wake();
  }

  private open(name: string, forget: () => void): Promise<Client> {
    const h = this.host(name);
    const pinned = Buffer.from(h.hostKey.split(' ')[1]!, 'base64');
    let offered: Buffer | undefined;
    return new Promise((resolve, reject) => {
      const c = new Client();
      c.on('ready', () => resolve(c));
      c.on('error', (err) => {
        forget();
        // A host with no key of the pinned type fails the key exchange before offering any key: that is a
        // changed host key too (re-keyed with another algorithm), not a network problem to retry.
        const noPinnedType = !offered && /no matching host key format/.test(err.message);
        if (noPinnedType) {
          reject(
            ApplicationFailure.create({
              message: `host key of ${name} (${h.address}:${h.port}) does not match the inventory: the host offers no ${h.hostKey.split(' ')[0]} key, pinned ${fingerprintOf(pinned)}`,
              type: 'HostKeyMismatch',
              nonRetryable: true,
            }),
          );
        } else if (offered && !offered.equals(pinned)) {
          reject(
            ApplicationFailure.create({
              message:
                `host key of ${name} (${h.address}:${h.port}) does not match the inventory: ` +
                `offered ${fingerprintOf(offered)}, pinned ${fingerprintOf(pinned)}`,
              type: 'HostKeyMismatch',
              nonRetryable: true,
            }),
          );
        } else reject(new Error(`ssh ${name} (${h.address}:${h.port}): ${err.message}`));
      });
      c.on('close', forget);
      let privateKey: Buffer;
      try {
        privateKey = readFileSync(h.identityFile);
      } catch (err) {
        reject(ApplicationFailure.nonRetryable(`identity file of ${name}: ${(err as Error).message}`, 'InvalidConfig'));
        return;
      }
      // Our own socket so Nagle can be turned off: with it on, each small SSH request waited ~40 ms for a
      // delayed ACK (measured: 47 ms → a few ms per exec on a reused connection).
      const sock = createConnection({ host: h.address, port: h.port });
      sock.setNoDelay(true);
      coalesceWrites(sock);
      sock.on('error', () => undefined); // reported through the client's 'error'
      c.connect({
        sock,
        host: h.address,
        port: h.port,
        username: h.user,
        privateKey,
        readyTimeout: 15_000,
        keepaliveInterval: 10_000,
        keepaliveCountMax: 3,
        // Only the pinned key type is offered by us, so the server presents the key we pinned.
        algorithms: { serverHostKey: [h.hostKey.split(' ')[0]! as 'ssh-ed25519'] },
        hostVerifier: (key: Buffer) => {
          offered = key;
          return key.equals(pinned);
        },
      });
    });
  }

  /** Runs one shell command string; streams output to the callbacks. */
  async exec(
    name: string,
    command: string,
    io: { stdout?: (b: Buffer) => void; stderr?: (b: Buffer) => void; stdin?: string; signal?: AbortSignal },
  ): Promise<ExecOutcome> {
    return await this.channel(
      name,
      command,
      (ch) =>
        new Promise<ExecOutcome>((resolve, reject) => {
          let outcome: ExecOutcome = { code: null };
          ch.on('exit', (code: number | null, signal?: string) => {
            outcome = { code, signal };
          });
          ch.on('data', (b: Buffer) => io.stdout?.(b));
          ch.stderr.on('data', (b: Buffer) => io.stderr?.(b));
          ch.on('close', () => resolve(outcome));
          ch.on('error', reject);
          io.signal?.addEventListener('abort', () => ch.close(), { once: true });
          if (io.stdin !== undefined) ch.end(io.stdin);
          else ch.end();
        }),
    );
  }

  closeAll(): void {
    for (const l of this.hosts.values()) for (const k of l.links) k.client.then((c) => c.end()).catch(() => undefined);
    this.hosts.clear();
  }
}
