// A cloud simulator for the lab: the subset of Keystone v3, Nova and Glance v2 the openstack runbooks use,
// on 127.0.0.1 only. It exists because no OpenStack cloud can run here; it is a TEST DOUBLE, and the
// runbooks are tested against it only. It keeps real behaviour where the runbooks depend on it: the token
// in X-Subject-Token and a service catalog, nova's regex name filter, task_state during a snapshot and a
// rebuild, 409 for a rebuild or snapshot of a busy server and for stopping a stopped one, glance's
// queued → saving → active with a real qcow2 file (qemu-img), md5 `checksum` and sha512 `os_hash_value`.
// Faults, per server or image name (options or POST /admin/faults): an image that ends `killed`, a server
// that stays in REBUILD.
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CloudState, type SimImage, type SimServer } from './cloud-sim-state.js';

export interface CloudSimOptions {
  /** 0 (default): a free port, read it from `port`. */
  port?: number;
  /** Where image files are written. */
  dataDir: string;
  user: { name: string; password: string; project: string };
  servers: { name: string; status?: 'ACTIVE' | 'SHUTOFF'; volumeBacked?: boolean }[];
  faults?: Faults;
  /** One status transition takes this long (default 300 ms: "hundreds of ms", like a small real image). */
  stepMs?: number;
}

export interface Faults {
  /** Snapshots with these names end `killed` instead of `active`. */
  killImages?: string[];
  /** Rebuilds of these servers never finish (status REBUILD, task rebuilding, forever). */
  stuckRebuild?: string[];
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
  const faults: Required<Faults> = { killImages: [...(o.faults?.killImages ?? [])], stuckRebuild: [...(o.faults?.stuckRebuild ?? [])] };
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
  await writeImageFile(base, join(o.dataDir, `${base.id}.img`));
  for (const s of o.servers) state.addServer(s.name, s.status ?? 'ACTIVE', s.volumeBacked ? null : base.id);

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
    const body = method === 'POST' ? await readJson(req) : undefined;

    if (method === 'POST' && path === '/v3/auth/tokens') return auth(res, body);
    if (method === 'POST' && path === '/admin/faults') {
      const f = body as Faults;
      if (f.killImages) faults.killImages.push(...f.killImages);
      if (f.stuckRebuild) faults.stuckRebuild.push(...f.stuckRebuild);
      return send(res, 200, faults);
    }
    if (!tokens.has(String(req.headers['x-auth-token'] ?? ''))) return send(res, 401, { error: { code: 401, message: 'The request you have made requires authentication.' } });

    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/compute/v2.1/servers/detail') {
      const name = url.searchParams.get('name');
      const re = name ? new RegExp(name) : undefined; // nova's name filter is a regular expression
      return send(res, 200, { servers: state.servers().filter((s) => !re || re.test(s.name)).map((s) => state.novaServer(s)) });
    }
    if ((m = /^\/compute\/v2\.1\/servers\/([^/]+)$/.exec(path)) && method === 'GET') {
      const s = state.server(m[1]!);
      return s ? send(res, 200, { server: state.novaServer(s) }) : send(res, 404, { itemNotFound: { code: 404, message: `Instance ${m[1]} could not be found.` } });
    }
    if ((m = /^\/compute\/v2\.1\/servers\/([^/]+)\/action$/.exec(path)) && method === 'POST') {
      const s = state.server(m[1]!);
      if (!s) return send(res, 404, { itemNotFound: { code: 404, message: `Instance ${m[1]} could not be found.` } });
      return serverAction(res, s, body as Record<string, unknown>);
    }
    if (method === 'GET' && path === '/image/v2/images') {
      const name = url.searchParams.get('name');
      return send(res, 200, { images: state.images().filter((i) => !name || i.name === name).map((i) => state.glanceImage(i)) });
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
    const pw = (body as { auth?: { identity?: { password?: { user?: { name?: string; password?: string } } }; scope?: { project?: { name?: string } } } })?.auth;
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
      send(res, 409, { conflictingRequest: { code: 409, message: `Cannot '${what}' instance ${s.id} while it is in vm_state ${s.vmState}${s.taskState ? ` task_state ${s.taskState}` : ''}` } });
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
      s.taskState = 'image_snapshot';
      later(step, () => {
        s.taskState = 'image_uploading';
        image.status = 'saving';
      });
      later(2 * step, async () => {
        if (faults.killImages.includes(image.name)) image.status = 'killed';
        else await writeImageFile(image, join(o.dataDir, `${image.id}.img`));
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

  /** The image's bytes: a real qcow2 from qemu-img when it is installed, else a small raw file. */
  async function writeImageFile(image: SimImage, file: string): Promise<void> {
    try {
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, '64M']);
      image.diskFormat = 'qcow2';
    } catch {
      writeFileSync(file, Buffer.alloc(1 << 20));
      image.diskFormat = 'raw';
    }
    const bytes = readFileSync(file);
    image.file = file;
    image.size = bytes.length;
    image.checksum = createHash('md5').update(bytes).digest('hex');
    image.hashValue = createHash('sha512').update(bytes).digest('hex');
    image.status = 'active';
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
