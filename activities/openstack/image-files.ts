// Image files between glance and the image host (`cloud-client`): `openstack image save --file` and
// `openstack image create --file`, streamed through the worker over SSH so no image byte ever enters a
// workflow payload. Both directions hash the stream (md5 and sha512, glance's own algorithms) and compare
// with what glance reports, so a file is never trusted on its size alone.
import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ClientChannel } from 'ssh2';
import type { WorkerConfig } from '../../workers/config.js';
import type { ImageView } from '../../workflows/openstack/rules.js';
import { MADE_BY, refuse, type CloudApi, type GlanceImage } from './api.js';
import { quoteArgv } from '../ssh/shell-quote.js';
import type { SshPool } from '../ssh/ssh.js';
import { TransferProgress } from '../progress.js';

export interface ImageWorkspace {
  host: string;
  /** This run's directory on the image host. */
  dir: string;
  sysprepEnv: Record<string, string>;
  deletePaths: string[];
  sysprepTimeoutSeconds: number;
}

export interface FileDigest {
  path: string;
  bytes: number;
  md5: string;
  sha512: string;
}

/** Counts and hashes what flows through, and heartbeats the count. */
function digester(ctx: Context, total?: number): { meter: Transform; done: () => { bytes: number; md5: string; sha512: string } } {
  const progress = new TransferProgress(total);
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  let bytes = 0;
  let last = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, next: TransformCallback) {
      bytes += chunk.length;
      md5.update(chunk);
      sha512.update(chunk);
      if (Date.now() - last > 3000) {
        last = Date.now();
        progress.update(bytes);
        ctx.heartbeat({ bytes, ...progress.details() });
      }
      next(null, chunk);
    },
  });
  return { meter, done: () => ({ bytes, md5: md5.digest('hex'), sha512: sha512.digest('hex') }) };
}

function exec(ssh: SshPool, host: string, argv: string[], drain = true): Promise<{ ch: ClientChannel; exit: Promise<{ code: number; stderr: string }> }> {
  return ssh.channel(host, quoteArgv(argv), (ch) => {
    let stderr = '';
    ch.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString('utf8')).slice(-2048)));
    // Drained unless the caller reads it: ssh2 closes a channel only once its output has been consumed.
    if (drain) ch.resume();
    let code = 255;
    ch.on('exit', (c2: number | null) => (code = c2 ?? 255));
    return { ch, exit: new Promise<{ code: number; stderr: string }>((r) => ch.on('close', () => r({ code, stderr: stderr.trim() }))) };
  });
}

/** The file's size on the host; a missing or unreadable file is a refusal (before glance gets an image record). */
async function hostFileSize(ssh: SshPool, host: string, path: string): Promise<number> {
  const st = await exec(ssh, host, ['stat', '-L', '-c', '%s', '--', path], false);
  st.ch.end();
  let out = '';
  st.ch.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const end = await st.exit;
  if (end.code !== 0 || !/^\d+\s*$/.test(out)) throw refuse(`${host}: no readable file ${path} (${end.stderr || `exit ${end.code}`})`);
  return Number(out.trim());
}

export function makeOpenstackImageFileActivities(ssh: SshPool, api: CloudApi, config: WorkerConfig) {
  const bound = (ctx: Context): AbortSignal => AbortSignal.any([ctx.cancellationSignal, AbortSignal.timeout(config.openstack.transferTimeoutSeconds * 1000)]);

  return {
    /** Where this run keeps its image files, and how virt-sysprep runs there (worker config, no secrets). */
    async openstackImageWorkspace({ host, workflowId }: { host: string; workflowId: string }): Promise<ImageWorkspace> {
      ssh.host(host); // an inventory host, or UnknownHost
      const s = config.openstack.sysprep;
      return {
        host,
        dir: `${config.openstack.imageDir}/${workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}`,
        sysprepEnv: s.env,
        deletePaths: s.deletePaths,
        sysprepTimeoutSeconds: s.timeoutSeconds,
      };
    },

    /**
     * `openstack image save --file PATH IMAGE` onto the image host: written as PATH.partial and renamed only
     * once the bytes' md5 and sha512 match glance's. A retry downloads again from the start.
     */
    async openstackDownloadImage(a: { cloud: string; imageId: string; host: string; path: string }): Promise<FileDigest> {
      const ctx = Context.current();
      const image = await api.getImage(a.cloud, a.imageId);
      if (image?.status !== 'active') throw refuse(`image ${a.imageId} is ${image?.status ?? 'gone'}: only an active image can be downloaded`);
      const signal = bound(ctx);
      const res = await api.session(a.cloud).transfer('GET', `/images/${image.id}/file`, signal);
      if (!res.body) throw ApplicationFailure.create({ message: `glance sent no data for image ${image.id}`, type: 'CloudRequestFailed' });
      const dir = a.path.slice(0, a.path.lastIndexOf('/')) || '/';
      const to = await exec(ssh, a.host, ['sh', '-c', 'umask 077 && mkdir -p -- "$1" && cat > "$2.partial"', 'sh', dir, a.path]);
      const length = Number(res.headers.get('content-length') ?? '') || image.size || undefined;
      const { meter, done } = digester(ctx, length);
      const stop = () => to.ch.close();
      signal.addEventListener('abort', stop, { once: true });
      try {
        await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), meter, to.ch);
      } catch (err) {
        to.ch.close(); // the .partial file stays behind, never renamed; a retry writes it again
        throw err;
      } finally {
        signal.removeEventListener('abort', stop);
      }
      const end = await to.exit;
      if (end.code !== 0)
        throw ApplicationFailure.create({ message: `${a.host}: writing ${a.path} failed (exit ${end.code}): ${end.stderr}`, type: 'TransferFailed' });
      const got = done();
      const wrong = [
        image.checksum && image.checksum !== got.md5 ? `md5 ${got.md5} ≠ glance ${image.checksum}` : '',
        image.hashValue && image.hashAlgo === 'sha512' && image.hashValue !== got.sha512
          ? `sha512 ${got.sha512.slice(0, 16)}… ≠ glance ${image.hashValue.slice(0, 16)}…`
          : '',
      ].filter(Boolean);
      // Retryable: a damaged download is fetched again; the .partial file is never renamed.
      if (wrong.length)
        throw ApplicationFailure.create({
          message: `image ${image.id} downloaded to ${a.host} does not match glance: ${wrong.join('; ')}`,
          type: 'TransferCorrupt',
        });
      const mv = await exec(ssh, a.host, ['mv', '--', `${a.path}.partial`, a.path]);
      mv.ch.end();
      const moved = await mv.exit;
      if (moved.code !== 0) throw ApplicationFailure.create({ message: `${a.host}: mv ${a.path}.partial failed: ${moved.stderr}`, type: 'TransferFailed' });
      return { path: a.path, ...got };
    },

    /**
     * `openstack image create NAME --disk-format qcow2 --container-format bare --file PATH --property k=v`.
     * One image per name: an image of this name made by this run is reused (uploaded into again while it is
     * still `queued`), one made by anyone else is a refusal.
     */
    async openstackUploadImage(a: {
      cloud: string;
      host: string;
      path: string;
      name: string;
      properties: Record<string, string>;
      workflowId: string;
    }): Promise<{ image: ImageView; reused: boolean; sent?: Omit<FileDigest, 'path'> }> {
      const ctx = Context.current();
      const os = api.session(a.cloud);
      const named = await api.imagesNamed(a.cloud, a.name);
      const others = named.filter((i) => i.madeBy !== a.workflowId);
      if (others.length)
        throw refuse(
          `cloud "${a.cloud}" already has an image named ${a.name} (${others.map((i) => `${i.id}, ${i.status}`).join('; ')}): choose another name or delete it first`,
        );
      let image = named[0];
      if (image && image.status !== 'queued') return { image, reused: true }; // uploaded by an earlier attempt; the wait judges it
      const size = await hostFileSize(ssh, a.host, a.path);
      if (!image) {
        const r = await os.request<GlanceImage>('image', 'POST', '/images', {
          name: a.name,
          disk_format: 'qcow2',
          container_format: 'bare',
          visibility: 'private',
          ...a.properties,
          [MADE_BY]: a.workflowId,
        });
        image = (await api.getImage(a.cloud, r.body.id))!;
      }
      const from = await exec(ssh, a.host, ['cat', '--', a.path], false);
      from.ch.end();
      const { meter, done } = digester(ctx, size);
      const body = Readable.toWeb(from.ch.pipe(meter)) as ReadableStream<Uint8Array>;
      try {
        await os.transfer('PUT', `/images/${image.id}/file`, bound(ctx), body);
      } catch (err) {
        from.ch.close(); // glance refused or the link broke: stop reading the file on the host
        throw err;
      }
      const end = await from.exit;
      const sent = done();
      // A short read would reach glance as a complete (smaller) image: the wait's checksum would catch it, but say why here.
      if (end.code !== 0 || sent.bytes !== size) {
        throw ApplicationFailure.create({
          message: `${a.host}: reading ${a.path} failed (exit ${end.code}, ${sent.bytes} of ${size} bytes sent): ${end.stderr}`,
          type: 'TransferFailed',
        });
      }
      return { image: (await api.getImage(a.cloud, image.id)) ?? image, reused: false, sent };
    },
  };
}
