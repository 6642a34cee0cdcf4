// What the OpenStack runbooks decide from a server's or an image's state. Pure functions, shared by the
// workflows (preflight checks before a gate) and the activities (the same check again right before acting,
// since a gate may be open for hours).
import { z } from 'zod';

/** A server as the runbooks see it (from nova GET /servers/{id}). */
export interface ServerView {
  id: string;
  name: string;
  status: string;
  /** OS-EXT-STS:task_state: null when nothing is in progress. */
  taskState: string | null;
  /** The image it boots from; null for a volume-backed server (nova reports `"image": ""`). */
  imageId: string | null;
  addresses: string[];
  fault?: string;
  /** The flavor's name (nova 2.47+), for a move that keeps it. */
  flavor?: string | null;
  keyName?: string | null;
  /** The workflow that created this server (metadata runbook_workflow_id), if one of ours. */
  madeBy?: string | null;
}

/** An image as the runbooks see it (from glance GET /v2/images/{id}). */
export interface ImageView {
  id: string;
  name: string;
  status: string;
  diskFormat: string | null;
  size: number | null;
  checksum: string | null;
  hashAlgo: string | null;
  hashValue: string | null;
  /** The workflow that asked nova for this snapshot (image property runbook_workflow_id), if one of ours. */
  madeBy: string | null;
}

/** Glance statuses an image never leaves for `active` (glance doc/source/user/statuses.rst). */
export const IMAGE_DEAD = ['killed', 'deleted', 'pending_delete', 'deactivated'];
/** Statuses of an image still on its way to `active`. */
export const IMAGE_PENDING = ['queued', 'saving', 'uploading', 'importing'];
/** Nova refuses createImage outside these (and while a task runs). */
const SNAPSHOT_OK = ['ACTIVE', 'SHUTOFF', 'PAUSED', 'SUSPENDED'];
/** Nova (and osc) accept a rebuild only from these, with no task in progress. */
const REBUILD_OK = ['ACTIVE', 'SHUTOFF', 'ERROR'];

const VOLUME_BACKED = 'boots from a Cinder volume (no image): the volume snapshot path is not built yet; snapshot its volume with cinder instead';

export function snapshotRefusal(s: ServerView): string | undefined {
  if (!s.imageId) return `server ${s.name} (${s.id}) ${VOLUME_BACKED}`;
  if (s.taskState) return `server ${s.name} is busy (status ${s.status}, task ${s.taskState}): nova would refuse a snapshot now`;
  if (!SNAPSHOT_OK.includes(s.status)) return `server ${s.name} is ${s.status}: a snapshot needs ${SNAPSHOT_OK.join(', ')}`;
  return undefined;
}

/** A move or rename stops the server first: it must be settled (ACTIVE or SHUTOFF, no task) and boot from an image. */
export function moveRefusal(s: ServerView): string | undefined {
  if (!s.imageId)
    return `server ${s.name} (${s.id}) ${VOLUME_BACKED.replace('snapshot its volume with cinder instead', 'move its volume with cinder instead')}`;
  if (s.taskState || !['ACTIVE', 'SHUTOFF'].includes(s.status)) {
    return `server ${s.name} is in a transitional state (status ${s.status}, task ${s.taskState ?? 'none'}): a move is refused until it is ACTIVE or SHUTOFF with no task`;
  }
  return undefined;
}

export function rebuildRefusal(s: ServerView): string | undefined {
  if (!s.imageId)
    return `server ${s.name} (${s.id}) ${VOLUME_BACKED.replace('snapshot its volume with cinder instead', 'a rebuild would need --reimage-boot-volume, which this runbook does not do')}`;
  if (s.taskState || !REBUILD_OK.includes(s.status)) {
    return `server ${s.name} is in a transitional state (status ${s.status}, task ${s.taskState ?? 'none'}): a rebuild is refused until it is ACTIVE, SHUTOFF or ERROR with no task`;
  }
  return undefined;
}

/** The status a rebuild ends in: osc's `--wait` treats SHUTOFF as success only when the server was off. */
export function rebuildTarget(before: ServerView): 'ACTIVE' | 'SHUTOFF' {
  return before.status === 'SHUTOFF' ? 'SHUTOFF' : 'ACTIVE';
}

// ---- input fields ---------------------------------------------------------------------------------------
/** A cloud of the worker's clouds.yaml (its key, never credentials). */
export const cloudName = () =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a cloud name from the worker\'s clouds.yaml (letters, digits, ".", "_", "-")');
/** A server's name or UUID; no spaces, no regex or shell characters (nova filters names as regexes). */
export const serverRef = () => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a server name or ID (letters, digits, ".", "_", "-"; up to 63)');
/** An image's name or UUID. */
export const imageRef = () => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'an image name or ID (letters, digits, ".", "_", "-"; up to 128)');
/** A new server's name: it becomes the guest's hostname and a DNS name, so RFC 1123 labels only. */
export const newServerName = () =>
  z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a host name for the new server (lower-case letters, digits, "-"; up to 63)');
export const flavorRef = () => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a flavor name or ID (letters, digits, ".", "_", "-")');
export const keyPairName = () => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'a key pair name (letters, digits, ".", "_", "@", "-")');
export const networkId = () => z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a network UUID');
/** Glance image properties, e.g. {"os": "LINUX"} (CERN: registers the VM in LanDB and Active Directory). */
export const imageProperties = () =>
  z
    .record(
      z.string().regex(/^[a-z][a-z0-9_:-]{0,63}$/, 'a property name (lower-case letters, digits, "_", ":", "-")'),
      z.string().regex(/^[A-Za-z0-9 ._:@=+-]{0,255}$/, 'a property value (letters, digits, " ._:@=+-")'),
    )
    .refine((p) => Object.keys(p).length <= 20, 'at most 20 properties')
    .refine((p) => !Object.keys(p).some((k) => RESERVED_PROPERTIES.includes(k)), 'a property name reserved by glance or by the runbooks');
const RESERVED_PROPERTIES = [
  'id',
  'name',
  'status',
  'disk_format',
  'container_format',
  'visibility',
  'owner',
  'size',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'runbook_workflow_id',
  'protected',
  'tags',
];
