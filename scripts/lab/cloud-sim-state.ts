// The cloud simulator's state: servers and images of one project, and how they look on the wire (nova and
// glance JSON). Tests read it directly to check what the runbooks did (one image per name, rebuild counts).
import { randomUUID } from 'node:crypto';

export interface SimServer {
  id: string;
  name: string;
  status: string;
  vmState: string;
  taskState: string | null;
  /** null: volume-backed (nova shows `"image": ""`). */
  imageId: string | null;
  address: string;
  rebuilds: number;
  updated: string;
  flavor: string;
  keyName: string | null;
  metadata: Record<string, string>;
  createdAt: number;
  /** When nova forgot it (a DELETE finished); deleted servers are no longer listed. */
  deletedAt?: number;
}

export interface SimImage {
  id: string;
  name: string;
  status: string;
  diskFormat: string | null;
  size: number | null;
  checksum: string | null;
  hashValue: string | null;
  file?: string;
  properties: Record<string, string>;
  created: string;
  /** When it became active (tests check what happened before it). */
  activeAt?: number;
}

export class CloudState {
  readonly projectId = randomUUID().replace(/-/g, '');
  /** Every request as "METHOD /path" (no bodies, no tokens). */
  readonly log: string[] = [];
  private readonly serverList: SimServer[] = [];
  private readonly imageList: SimImage[] = [];

  constructor(readonly project: string) {}

  servers(): SimServer[] {
    return this.serverList.filter((s) => s.deletedAt === undefined);
  }

  /** Every server ever, deleted ones too (tests check when a source went). */
  allServers(): SimServer[] {
    return [...this.serverList];
  }

  images(): SimImage[] {
    return [...this.imageList];
  }

  server(id: string): SimServer | undefined {
    return this.servers().find((s) => s.id === id);
  }

  image(id: string): SimImage | undefined {
    return this.imageList.find((i) => i.id === id);
  }

  serverNamed(name: string): SimServer {
    const s = this.servers().find((x) => x.name === name);
    if (!s) throw new Error(`no simulated server ${name}`);
    return s;
  }

  imagesNamed(name: string): SimImage[] {
    return this.imageList.filter((i) => i.name === name);
  }

  addServer(
    name: string,
    status: 'ACTIVE' | 'SHUTOFF' | 'BUILD',
    imageId: string | null,
    o: { flavor?: string; keyName?: string | null; metadata?: Record<string, string> } = {},
  ): SimServer {
    const s: SimServer = {
      id: randomUUID(),
      name,
      status,
      vmState: status === 'ACTIVE' ? 'active' : status === 'BUILD' ? 'building' : 'stopped',
      taskState: status === 'BUILD' ? 'spawning' : null,
      imageId,
      address: `10.0.0.${10 + this.serverList.length}`,
      rebuilds: 0,
      updated: new Date().toISOString(),
      createdAt: Date.now(),
      flavor: o.flavor ?? 'm2.small',
      keyName: o.keyName === undefined ? 'lab-key' : o.keyName,
      metadata: o.metadata ?? {},
    };
    this.serverList.push(s);
    return s;
  }

  addImage(i: { name: string; status: string; properties?: Record<string, string> }): SimImage {
    const image: SimImage = {
      id: randomUUID(),
      name: i.name,
      status: i.status,
      diskFormat: null,
      size: null,
      checksum: null,
      hashValue: null,
      properties: i.properties ?? {},
      created: new Date().toISOString(),
    };
    this.imageList.push(image);
    return image;
  }

  /** A transition finished: the server is `status` with no task. */
  settle(s: SimServer, status: 'ACTIVE' | 'SHUTOFF'): void {
    s.status = status;
    s.vmState = status === 'ACTIVE' ? 'active' : 'stopped';
    s.taskState = null;
    s.updated = new Date().toISOString();
  }

  novaServer(s: SimServer): unknown {
    return {
      id: s.id,
      name: s.name,
      status: s.status,
      tenant_id: this.projectId,
      'OS-EXT-STS:vm_state': s.vmState,
      'OS-EXT-STS:task_state': s.taskState,
      'OS-EXT-STS:power_state': s.status === 'ACTIVE' ? 1 : 4,
      image: s.imageId ? { id: s.imageId, links: [] } : '',
      flavor: { original_name: s.flavor, vcpus: 1, ram: 2048, disk: 20 },
      key_name: s.keyName,
      // Real nova shows no address until the port is bound, during the build.
      addresses: s.status === 'BUILD' ? {} : { 'lab-net': [{ addr: s.address, version: 4, 'OS-EXT-IPS:type': 'fixed' }] },
      metadata: s.metadata,
      updated: s.updated,
    };
  }

  glanceImage(i: SimImage): unknown {
    return {
      id: i.id,
      name: i.name,
      status: i.status,
      disk_format: i.diskFormat,
      container_format: i.diskFormat ? 'bare' : null,
      size: i.size,
      checksum: i.checksum,
      os_hash_algo: i.hashValue ? 'sha512' : null,
      os_hash_value: i.hashValue,
      visibility: 'private',
      owner: this.projectId,
      created_at: i.created,
      file: `/v2/images/${i.id}/file`,
      ...i.properties,
    };
  }
}
