// A cloud simulator for the lab: the subset of Keystone v3, Nova and Glance v2 the openstack runbooks use,
// on 127.0.0.1 only. It exists because no OpenStack cloud can run here; it is a TEST DOUBLE, and the
// runbooks are tested against it only. It keeps real behaviour where the runbooks depend on it: the token
// in X-Subject-Token and a service catalog, nova's regex name filter, task_state during a snapshot and a
// rebuild, 409 for a rebuild or snapshot of a busy server and for stopping a stopped one, glance's
// queued → saving → active with a real qcow2 file (qemu-img), md5 `checksum` and sha512 `os_hash_value`.
// Faults, per server or image name (options or POST /admin/faults): an image that ends `killed`, a server
// that stays in REBUILD, an upload stored damaged. For clone/move/rename: glance image create and upload,
// nova server create (BUILD → ACTIVE) and delete, flavors, key pairs; a snapshot holds a copy of the disk
// the server boots (a real filesystem when `baseImage` is one), and a DnsZone gets the servers' names.
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, createReadStream, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CloudState, type SimImage, type SimServer } from './cloud-sim-state.js';
import type { DnsZone } from './dns-sim.js';

export interface CloudSimOptions {
  /** 0 (default): a free port, read it from `port`. */
  port?: number;
  /** Where image files are written. */
  dataDir: string;
  user: { name: string; password: string; project: string };
  servers: { name: string; status?: 'ACTIVE' | 'SHUTOFF'; volumeBacked?: boolean }[];
  /** A qcow2 to serve as the servers' base image (and so inside their snapshots); default an empty 64 MiB one. */
  baseImage?: string;
  /** Servers' names are added here, and expire (after its linger) when they are deleted. */
  dns?: DnsZone;
  /** Flavor names (IDs "1", "2", …); default m2.small, m2.medium. */
  flavors?: string[];
  /** Key pair names of the user; default lab-key. */
  keyPairs?: string[];
  faults?: Faults;
  /** One status transition takes this long (default 300 ms: "hundreds of ms", like a small real image). */
  stepMs?: number;
}

export interface Faults {
  /** Snapshots with these names end `killed` instead of `active`. */
  killImages?: string[];
  /** Rebuilds of these servers never finish (status REBUILD, task rebuilding, forever). */
  stuckRebuild?: string[];
  /** Uploads to images of these names are stored with one byte changed (glance hashes what it stored). */
  corruptUploads?: string[];
}

export interface CloudSim {
  port: number;
  /** The Keystone URL for clouds.yaml (`auth_url`). */
  authUrl: string;
  state: CloudState;
  setFaults(f: Faults): void;
  close(): Promise<void>;
}

const run = promisify(execFile);

export async function startCloudSim(o: CloudSimOptions): Promise<CloudSim> {
  mkdirSync(o.dataDir, { recursive: true });
  const step = o.stepMs ?? 300;
  const faults: Required<Faults> = {
    killImages: [...(o.faults?.killImages ?? [])],
    stuckRebuild: [...(o.faults?.stuckRebuild ?? [])],
    corruptUploads: [...(o.faults?.corruptUploads ?? [])],
  };
  const flavors = (o.flavors ?? ['m2.small', 'm2.medium']).map((name, k) => ({ id: String(k + 1), name }));
  const keyPairs = o.keyPairs ?? ['lab-key'];
  const state = new CloudState(o.user.project);
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, f: () => void | Promise<void>): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      void f();
    }, ms);
    timers.add(t);
  };

  const base = state.addImage({ name: 'debian-12-base', status: 'queued' });
  await writeImageFile(base, join(o.dataDir, `${base.id}.img`), o.baseImage);
  for (const s of o.servers) {
    const added = state.addServer(s.name, s.status ?? 'ACTIVE', s.volumeBacked ? null : base.id);
    o.dns?.add(added.name, added.address);
  }

  const tokens = new Set<string>();
  let origin = '';

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { computeFault: { code: 500, message: String(err) } }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const path = url.pathname;
    const method = req.method ?? 'GET';
    state.log.push(`${method} ${path}`);
    // An image upload's body is the file, streamed; every other POST is JSON.
    const body = method === 'POST' ? await readJson(req) : undefined;

    if (method === 'POST' && path === '/v3/auth/tokens') return auth(res, body);
    if (method === 'POST' && path === '/admin/faults') {
      const f = body as Faults;
      if (f.killImages) faults.killImages.push(...f.killImages);
      if (f.stuckRebuild) faults.stuckRebuild.push(...f.stuckRebuild);
      if (f.corruptUploads) faults.corruptUploads.push(...f.corruptUploads);
      return send(res, 200, faults);
    }
    if (!tokens.has(String(req.headers['x-auth-token'] ?? '')))
      return send(res, 401, { error: { code: 401, message: 'The request you have made requires authentication.' } });

    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/compute/v2.1/servers/detail') {
      const name = url.searchParams.get('name');
      const re = name ? new RegExp(name) : undefined; // nova's name filter is a regular expression
      return send(res, 200, {
        servers: state
          .servers()
          .filter((s) => !re || re.test(s.name))
          .map((s) => state.novaServer(s)),
      });
    }
    if (method === 'GET' && path === '/compute/v2.1/flavors') return send(res, 200, { flavors: flavors.map((f) => ({ ...f, links: [] })) });
    if ((m = /^\/compute\/v2\.1\/os-keypairs\/([^/]+)$/.exec(path)) && method === 'GET') {
      const name = decodeURIComponent(m[1]!);
      return keyPairs.includes(name)
        ? send(res, 200, { keypair: { name, type: 'ssh' } })
        : send(res, 404, { itemNotFound: { code: 404, message: `Keypair ${name} not found for user u-${o.user.name}` } });
    }
    if (method === 'POST' && path === '/compute/v2.1/servers') return bootServer(res, (body as { server?: Record<string, unknown> }).server ?? {});
    if ((m = /^\/compute\/v2\.1\/servers\/([^/]+)$/.exec(path)) && method === 'DELETE') {
      const s = state.server(m[1]!);
      if (!s) return send(res, 404, { itemNotFound: { code: 404, message: `Instance ${m[1]} could not be found.` } });
      s.taskState = 'deleting';
      later(step, () => {
        s.deletedAt = Date.now();
        o.dns?.expire(s.name);
      });
      return send(res, 204, '');
    }
    if ((m = /^\/compute\/v2\.1\/servers\/([^/]+)$/.exec(path)) && method === 'GET') {
      const s = state.server(m[1]!);
      return s
        ? send(res, 200, { server: state.novaServer(s) })
        : send(res, 404, { itemNotFound: { code: 404, message: `Instance ${m[1]} could not be found.` } });
    }
    if ((m = /^\/compute\/v2\.1\/servers\/([^/]+)\/action$/.exec(path)) && method === 'POST') {
      const s = state.server(m[1]!);
      if (!s) return send(res, 404, { itemNotFound: { code: 404, message: `Instance ${m[1]} could not be found.` } });
      return serverAction(res, s, body as Record<string, unknown>);
    }
    if (method === 'POST' && path === '/image/v2/images') {
      const b = body as Record<string, unknown>;
      const props = Object.fromEntries(
        Object.entries(b).filter(([k, v]) => !['name', 'disk_format', 'container_format', 'visibility'].includes(k) && typeof v === 'string'),
      ) as Record<string, string>;
      const image = state.addImage({ name: String(b.name ?? ''), status: 'queued', properties: props });
      image.diskFormat = typeof b.disk_format === 'string' ? b.disk_format : null;
      return send(res, 201, state.glanceImage(image));
    }
    if ((m = /^\/image\/v2\/images\/([^/]+)\/file$/.exec(path)) && method === 'PUT') {
      const i = state.image(m[1]!);
      if (!i) return send(res, 404, `<html><body><h1>404 Not Found</h1>No image found with ID ${m[1]}</body></html>`);
      if (i.status !== 'queued')
        return send(res, 409, `<html><body><h1>409 Conflict</h1>Image status transition from ${i.status} to saving is not allowed</body></html>`);
      i.status = 'saving';
      await upload(req, i);
      return send(res, 204, '');
    }
    if (method === 'GET' && path === '/image/v2/images') {
      const name = url.searchParams.get('name');
      return send(res, 200, {
        images: state
          .images()
          .filter((i) => !name || i.name === name)
          .map((i) => state.glanceImage(i)),
      });
    }
    if ((m = /^\/image\/v2\/images\/([^/]+)$/.exec(path)) && method === 'GET') {
      const i = state.image(m[1]!);
      return i ? send(res, 200, state.glanceImage(i)) : send(res, 404, `<html><body><h1>404 Not Found</h1>No image found with ID ${m[1]}</body></html>`);
    }
    if ((m = /^\/image\/v2\/images\/([^/]+)\/file$/.exec(path)) && method === 'GET') {
      const i = state.image(m[1]!);
      if (!i?.file || i.status !== 'active') return send(res, i ? 204 : 404, '');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-md5': i.checksum ?? '' });
      createReadStream(i.file).pipe(res);
      return;
    }
    send(res, 404, { error: { code: 404, message: `the simulator does not implement ${method} ${path}` } });
  }

  function auth(res: ServerResponse, body: unknown): void {
    const pw = (body as { auth?: { identity?: { password?: { user?: { name?: string; password?: string } } }; scope?: { project?: { name?: string } } } })
      ?.auth;
    const user = pw?.identity?.password?.user;
    if (user?.name !== o.user.name || user?.password !== o.user.password) {
      return send(res, 401, { error: { code: 401, message: 'The request you have made requires authentication.', title: 'Unauthorized' } });
    }
    if (pw?.scope?.project?.name !== o.user.project) return send(res, 401, { error: { code: 401, message: 'not authorized for that project' } });
    const token = randomBytes(16).toString('hex');
    tokens.add(token);
    const endpoint = (type: string, name: string, url: string) => ({
      type,
      name,
      endpoints: ['public', 'internal'].map((iface) => ({ id: randomUUID(), interface: iface, region_id: 'RegionOne', region: 'RegionOne', url })),
    });
    res.setHeader('X-Subject-Token', token);
    send(res, 201, {
      token: {
        methods: ['password'],
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        project: { id: state.projectId, name: o.user.project, domain: { id: 'default', name: 'Default' } },
        user: { id: 'u-' + o.user.name, name: o.user.name, domain: { id: 'default', name: 'Default' } },
        catalog: [
          endpoint('identity', 'keystone', `${origin}/v3`),
          endpoint('compute', 'nova', `${origin}/compute/v2.1`),
          endpoint('image', 'glance', `${origin}/image`),
        ],
      },
    });
  }

  function serverAction(res: ServerResponse, s: SimServer, action: Record<string, unknown>): void {
    const conflict = (what: string) =>
      send(res, 409, {
        conflictingRequest: {
          code: 409,
          message: `Cannot '${what}' instance ${s.id} while it is in vm_state ${s.vmState}${s.taskState ? ` task_state ${s.taskState}` : ''}`,
        },
      });
    if ('os-stop' in action) {
      if (s.taskState || s.status !== 'ACTIVE') return conflict('stop');
      s.taskState = 'powering-off';
      later(step, () => state.settle(s, 'SHUTOFF'));
      return send(res, 202, '');
    }
    if ('os-start' in action) {
      if (s.taskState || s.status !== 'SHUTOFF') return conflict('start');
      s.taskState = 'powering-on';
      later(step, () => state.settle(s, 'ACTIVE'));
      return send(res, 202, '');
    }
    if ('createImage' in action) {
      const req = action.createImage as { name?: string; metadata?: Record<string, string> };
      if (s.taskState || !['ACTIVE', 'SHUTOFF', 'PAUSED', 'SUSPENDED'].includes(s.status)) return conflict('createImage');
      // Real nova snapshots a volume-backed server through cinder; not simulated (the runbooks refuse it).
      if (!s.imageId) return send(res, 400, { badRequest: { code: 400, message: 'the simulator does not snapshot volume-backed servers' } });
      const image = state.addImage({ name: req.name ?? '', status: 'queued', properties: { ...req.metadata, image_type: 'snapshot', instance_uuid: s.id } });
      const disk = state.image(s.imageId)?.file; // s.imageId is set: volume-backed was refused above
      s.taskState = 'image_snapshot';
      later(step, () => {
        s.taskState = 'image_uploading';
        image.status = 'saving';
      });
      later(2 * step, async () => {
        if (faults.killImages.includes(image.name)) image.status = 'killed';
        else await writeImageFile(image, join(o.dataDir, `${image.id}.img`), disk);
        s.taskState = null;
      });
      res.setHeader('Location', `${origin}/image/v2/images/${image.id}`);
      return send(res, 202, { image_id: image.id });
    }
    if ('rebuild' in action) {
      const req = action.rebuild as { imageRef?: string };
      if (s.taskState || !['ACTIVE', 'SHUTOFF', 'ERROR'].includes(s.status)) return conflict('rebuild');
      const image = state.image(req.imageRef ?? '');
      if (!image || image.status !== 'active') return send(res, 400, { badRequest: { code: 400, message: `Image ${req.imageRef} is not active.` } });
      if (!s.imageId) return send(res, 400, { badRequest: { code: 400, message: 'rebuilding a volume-backed server needs microversion 2.93' } });
      const after = s.status === 'SHUTOFF' ? 'SHUTOFF' : 'ACTIVE';
      s.status = 'REBUILD';
      s.taskState = 'rebuilding';
      s.imageId = image.id;
      s.rebuilds++;
      if (!faults.stuckRebuild.includes(s.name)) later(2 * step, () => state.settle(s, after));
      return send(res, 202, { server: state.novaServer(s) });
    }
    send(res, 400, { badRequest: { code: 400, message: `the simulator does not implement action ${Object.keys(action).join(', ')}` } });
  }

  /** The image's bytes: a copy of `disk` (a snapshot of what the server boots), else a real qcow2 from qemu-img, else a small raw file. */
  async function writeImageFile(image: SimImage, file: string, disk?: string): Promise<void> {
    try {
      if (disk) copyFileSync(disk, file);
      else await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, '64M']);
      image.diskFormat = 'qcow2';
    } catch {
      writeFileSync(file, Buffer.alloc(1 << 20));
      image.diskFormat = 'raw';
    }
    finish(image, file);
  }

  function finish(image: SimImage, file: string): void {
    const bytes = readFileSync(file);
    image.file = file;
    image.size = bytes.length;
    image.checksum = createHash('md5').update(bytes).digest('hex');
    image.hashValue = createHash('sha512').update(bytes).digest('hex');
    image.status = 'active';
    image.activeAt = Date.now();
  }

  /** PUT /file: stored as sent (or damaged, as a fault), hashed, and active a step later (or killed). */
  async function upload(req: IncomingMessage, image: SimImage): Promise<void> {
    const file = join(o.dataDir, `${image.id}.img`);
    await new Promise<void>((resolve, reject) => req.pipe(createWriteStream(file)).on('finish', resolve).on('error', reject));
    if (faults.corruptUploads.includes(image.name)) {
      const bytes = readFileSync(file);
      const k = bytes.length >> 1;
      bytes[k] = bytes[k]! ^ 0xff;
      writeFileSync(file, bytes);
    }
    later(step, () => {
      if (faults.killImages.includes(image.name)) image.status = 'killed';
      else finish(image, file);
    });
  }

  /** POST /servers: BUILD (spawning) for two steps, then ACTIVE; nova's checks on image, flavor, key and networks. */
  function bootServer(res: ServerResponse, r: Record<string, unknown>): void {
    const bad = (message: string) => send(res, 400, { badRequest: { code: 400, message } });
    const image = state.image(String(r.imageRef ?? ''));
    if (!image || image.status !== 'active') return bad(`Image ${String(r.imageRef)} could not be found or is not active.`);
    const flavor = flavors.find((f) => f.id === r.flavorRef);
    if (!flavor) return bad(`Flavor ${String(r.flavorRef)} could not be found.`);
    if (r.key_name !== undefined && !keyPairs.includes(String(r.key_name))) return bad(`Invalid key_name provided.`);
    if (r.networks === undefined) return bad(`Multiple possible networks found, use a Network ID to be more specific. (networks is required from 2.37)`);
    if (typeof r.name !== 'string' || !r.name) return bad('Invalid input for field/attribute name.');
    const s = state.addServer(r.name, 'BUILD', image.id, {
      flavor: flavor.name,
      keyName: r.key_name === undefined ? null : String(r.key_name),
      metadata: (r.metadata as Record<string, string>) ?? {},
    });
    later(2 * step, () => {
      state.settle(s, 'ACTIVE');
      o.dns?.add(s.name, s.address);
    });
    send(res, 202, { server: { id: s.id, links: [], adminPass: randomBytes(9).toString('base64') } });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  return {
    port,
    authUrl: `${origin}/v3`,
    state,
    setFaults(f) {
      faults.killImages = [...(f.killImages ?? [])];
      faults.stuckRebuild = [...(f.stuckRebuild ?? [])];
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c));
    req.on('end', () => {
      try {
        resolve(data ? JSON.parse(data) : {});
      } catch {
        resolve({});
      }
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json' });
  res.end(status === 204 ? undefined : text);
}
