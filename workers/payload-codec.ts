// Payload encryption: an AES-256-GCM PayloadCodec and the ONE place that builds the DataConverter used by
// the worker, every client (connectClient, so the operator CLI too) and the codec server.
//
// Keys come from the environment:
//   RUNBOOK_CODEC_KEYS_FILE  a file (mode 0600, refused if group/other have any access) with lines
//                            `<keyId> <base64 32-byte key>`; the FIRST line encrypts, every line decrypts
//                            (rotation: add a new first line, keep the old ones for old histories).
//   RUNBOOK_CODEC_KEY_ID + RUNBOOK_CODEC_KEY (base64)   one key, straight from the environment.
// Nothing set: no codec, payloads stay plain json/plain. Key material never appears in a message or log.
//
// Encrypted payload: metadata `encoding: binary/encrypted`, `encryption-key-id: <id>`; data = 12-byte random
// IV || AES-256-GCM ciphertext || 16-byte tag of the serialized temporal.api.common.v1.Payload proto.
// Payloads that are not binary/encrypted pass through decode unchanged (runs from before encryption).
// Search attributes are not payloads through the codec: they stay plain and searchable.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

const PayloadProto = proto.temporal.api.common.v1.Payload;

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** A key configuration problem: bad file, bad mode, bad key, unknown key id. Never contains key material. */
export class CodecKeyError extends Error {
  override name = 'CodecKeyError';
}

export interface CodecKeys {
  /** The key id new payloads are encrypted with. */
  encryptKeyId: string;
  /** Every key that can decrypt, by id (the encrypting one included). */
  keys: Map<string, Buffer>;
  /** Where the keys came from, for messages (a file path or "environment"). */
  source: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function parseKey(keyId: string, b64: string, where: string): Buffer {
  if (!KEY_ID.test(keyId)) throw new CodecKeyError(`${where}: invalid key id ${JSON.stringify(keyId.slice(0, 70))} (letters, digits, . _ : -)`);
  const s = b64.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s) || s.length % 4 !== 0) throw new CodecKeyError(`${where}: key "${keyId}" is not valid base64`);
  const key = Buffer.from(s, 'base64');
  if (key.length !== 32) throw new CodecKeyError(`${where}: key "${keyId}" is ${key.length} bytes, AES-256 needs 32 (e.g. \`openssl rand -base64 32\`)`);
  return key;
}

/** Reads a keys file: `<keyId> <base64 key>` per line, first line encrypts; blank lines and `#` comments ignored. */
export function loadKeysFile(path: string): CodecKeys {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new CodecKeyError(`RUNBOOK_CODEC_KEYS_FILE ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (!st.isFile()) throw new CodecKeyError(`RUNBOOK_CODEC_KEYS_FILE ${path}: not a regular file`);
  const mode = st.mode & 0o777;
  if (mode & 0o077) {
    throw new CodecKeyError(
      `RUNBOOK_CODEC_KEYS_FILE ${path}: refusing to load a key file with mode 0${mode.toString(8)} (group/other have access); run \`chmod 600 ${path}\``,
    );
  }
  const keys = new Map<string, Buffer>();
  let encryptKeyId: string | undefined;
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const where = `${path} line ${i + 1}`;
      const parts = line.split(/\s+/);
      if (parts.length !== 2) throw new CodecKeyError(`${where}: expected "<keyId> <base64 key>"`);
      const [id, b64] = parts as [string, string];
      if (keys.has(id)) throw new CodecKeyError(`${where}: key id "${id}" appears twice`);
      keys.set(id, parseKey(id, b64, where));
      encryptKeyId ??= id;
    });
  if (!encryptKeyId) throw new CodecKeyError(`RUNBOOK_CODEC_KEYS_FILE ${path}: no keys in the file`);
  return { encryptKeyId, keys, source: path };
}

/** The keys configured in `env`, or undefined when encryption is off. Throws CodecKeyError on a bad setup. */
export function loadCodecKeys(env: NodeJS.ProcessEnv = process.env): CodecKeys | undefined {
  const file = env.RUNBOOK_CODEC_KEYS_FILE;
  const id = env.RUNBOOK_CODEC_KEY_ID;
  const key = env.RUNBOOK_CODEC_KEY;
  if (file && (id || key)) throw new CodecKeyError('set either RUNBOOK_CODEC_KEYS_FILE or RUNBOOK_CODEC_KEY_ID + RUNBOOK_CODEC_KEY, not both');
  if (file) return loadKeysFile(file);
  if (!id && !key) return undefined;
  if (!id || !key) throw new CodecKeyError('RUNBOOK_CODEC_KEY_ID and RUNBOOK_CODEC_KEY must be set together');
  return { encryptKeyId: id, keys: new Map([[id, parseKey(id, key, 'RUNBOOK_CODEC_KEY')]]), source: 'environment' };
}

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keys: Map<string, Buffer>;
  readonly encryptKeyId: string;

  constructor(k: Pick<CodecKeys, 'keys' | 'encryptKeyId'>) {
    const key = k.keys.get(k.encryptKeyId);
    if (!key) throw new CodecKeyError(`encryption key id "${k.encryptKeyId}" has no key`);
    this.keys = new Map(k.keys);
    this.encryptKeyId = k.encryptKeyId;
  }

  /** Key ids this codec can decrypt (for messages; never the keys). */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.get(this.encryptKeyId)!;
    return payloads.map((p) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const plain = PayloadProto.encode(p).finish();
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { encoding: enc.encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: enc.encode(this.encryptKeyId) },
        data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const encoding = p.metadata?.encoding;
      if (!encoding || dec.decode(encoding) !== ENCRYPTED_ENCODING) return p;
      const idBytes = p.metadata?.[KEY_ID_METADATA];
      if (!idBytes) throw new CodecKeyError(`encrypted payload without "${KEY_ID_METADATA}" metadata`);
      const keyId = dec.decode(idBytes);
      const key = this.keys.get(keyId);
      if (!key) {
        throw new CodecKeyError(
          `payload is encrypted with key id "${keyId}", which is not configured (configured: ${this.keyIds.map((k) => `"${k}"`).join(', ')}); keep old keys in RUNBOOK_CODEC_KEYS_FILE after a rotation`,
        );
      }
      const data = p.data ?? new Uint8Array();
      if (data.length < IV_BYTES + TAG_BYTES) throw new CodecKeyError(`encrypted payload (key id "${keyId}") is too short`);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new CodecKeyError(`payload encrypted with key id "${keyId}" does not decrypt with the configured key of that id (wrong key or corrupted data)`);
      }
      const decoded = PayloadProto.decode(plain);
      return { metadata: decoded.metadata, data: decoded.data } as Payload;
    });
  }
}

/** The codec for `env`'s keys, or undefined when no key is configured. */
export function payloadCodec(env: NodeJS.ProcessEnv = process.env): AesGcmPayloadCodec | undefined {
  const keys = loadCodecKeys(env);
  return keys && new AesGcmPayloadCodec(keys);
}

/** The DataConverter for worker, clients and CLI: undefined (SDK default, plain payloads) when no key is configured. */
export function dataConverter(env: NodeJS.ProcessEnv = process.env): DataConverter | undefined {
  const codec = payloadCodec(env);
  return codec && { payloadCodecs: [codec] };
}
