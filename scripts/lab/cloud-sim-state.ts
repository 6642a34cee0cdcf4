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
}

export class CloudState {
  readonly projectId = randomUUID().replace(/-/g, '');
  /** Every request as "METHOD /path" (no bodies, no tokens). */
  readonly log: string[] = [];
  private readonly serverList: SimServer[] = [];
  private readonly imageList: SimImage[] = [];

  constructor(readonly project: string) {}

  servers(): SimServer[] {
    return [...this.serverList];
  }

  images(): SimImage[] {
    return [...this.imageList];
  }

  server(id: string): SimServer | undefined {
    return this.serverList.find((s) => s.id === id);
  }

  image(id: string): SimImage | undefined {
    return this.imageList.find((i) => i.id === id);
  }

  serverNamed(name: string): SimServer {
    const s = this.serverList.find((x) => x.name === name);
    if (!s) throw new Error(`no simulated server ${name}`);
    return s;
  }

  imagesNamed(name: string): SimImage[] {
    return this.imageList.filter((i) => i.name === name);
  }

  addServer(name: string, status: 'ACTIVE' | 'SHUTOFF', imageId: string | null): SimServer {
    const s: SimServer = {
      id: randomUUID(),
      name,
      status,
      vmState: status === 'ACTIVE' ? 'active' : 'stopped',
      taskState: null,
      imageId,
      address: `10.0.0.${10 + this.serverList.length}`,
      rebuilds: 0,
      updated: new Date().toISOString(),
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
      flavor: { original_name: 'm2.small', vcpus: 1, ram: 2048, disk: 20 },
      addresses: { 'lab-net': [{ addr: s.address, version: 4, 'OS-EXT-IPS:type': 'fixed' }] },
      metadata: {},
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
