// A tiny authoritative DNS server for the cloud simulator (a TEST DOUBLE, like the simulator): it answers A
// queries for the simulated servers' names on 127.0.0.1 over UDP, and keeps a deleted server's record for
// `lingerMs`, as a site DNS (CERN's LanDB) keeps it for minutes. That is what openstackMove waits out when
// it keeps a name. Anything else gets NXDOMAIN.
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

export class DnsZone {
  private readonly records = new Map<string, { address: string; until?: number }>();

  constructor(readonly lingerMs: number) {}

  add(name: string, address: string): void {
    this.records.set(name.toLowerCase(), { address });
  }

  /** The server is gone; its record stays resolvable for lingerMs. */
  expire(name: string): void {
    const r = this.records.get(name.toLowerCase());
    if (r && r.until === undefined) r.until = Date.now() + this.lingerMs;
  }

  lookup(name: string): string | undefined {
    const r = this.records.get(name.toLowerCase().replace(/\.$/, ''));
    return r && (r.until === undefined || Date.now() < r.until) ? r.address : undefined;
  }
}

export interface DnsSim {
  /** For a resolver: "127.0.0.1:PORT". */
  server: string;
  /** Every query, in order: the name, whether it had an address, when. */
  queries: { name: string; address?: string; at: number }[];
  close(): Promise<void>;
}

export async function startDnsSim(zone: DnsZone): Promise<DnsSim> {
  const sock = createSocket('udp4');
  const queries: DnsSim['queries'] = [];
  sock.on('message', (msg, peer) => {
    const q = parseQuestion(msg);
    if (!q) return;
    const address = zone.lookup(q.name);
    queries.push({ name: q.name, address, at: Date.now() });
    const answer = address && q.type === 1 ? aRecord(address) : Buffer.alloc(0);
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    // QR, AA, RD copied; RCODE 3 (NXDOMAIN) when the name does not exist at all.
    header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | (address ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answer.length ? 1 : 0, 6);
    sock.send(Buffer.concat([header, msg.subarray(12, q.end), answer]), peer.port, peer.address);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = sock.address() as AddressInfo;
  return { server: `127.0.0.1:${port}`, queries, close: () => new Promise((r) => sock.close(() => r())) };
}

function parseQuestion(msg: Buffer): { name: string; type: number; end: number } | undefined {
  if (msg.length < 17 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  while (at < msg.length && msg[at]! > 0) {
    const len = msg[at]!;
    labels.push(msg.subarray(at + 1, at + 1 + len).toString('ascii'));
    at += 1 + len;
  }
  if (at + 5 > msg.length) return undefined;
  return { name: labels.join('.'), type: msg.readUInt16BE(at + 1), end: at + 5 };
}

function aRecord(address: string): Buffer {
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // the question's name
  rr.writeUInt16BE(1, 2); // A
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(60, 6); // TTL
  rr.writeUInt16BE(4, 10);
  address.split('.').forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
  return rr;
}
