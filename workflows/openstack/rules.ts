// What the OpenStack runbooks decide from a server's or an image's state. Pure functions, shared by the
// workflows (preflight checks before a gate) and the activities (the same check again right before acting,
// since a gate may be open for hours). test/unit/openstack.test.ts holds them to the source page's cases.

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
  /**
   * What the cloud says about the guest's OS, by where it was read: `server os_type`, `image os_distro`,
   * `image name`, … (nova metadata; glance properties and name of the image it boots). Absent in old histories.
   */
  osHints?: Record<string, string>;
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

/** A rollback rebuilds only from an image glance has as `active`. */
export function rollbackImageRefusal(im: ImageView): string | undefined {
  return im.status === 'active' ? undefined : `image ${im.name} (${im.id}) is ${im.status}, not active: nothing to rebuild from`;
}

// ---- Windows guests: the CERN page's procedures are for Linux; Windows needs its own handling

/** nova metadata and glance properties that name a guest OS (glance's common properties, CERN's LanDB ones). */
export const OS_KEYS = ['os_type', 'os_distro', 'landb-os', 'os'];

/** Every hint that the guest runs Windows, as `where=value` (empty: none). */
export function windowsSigns(s: ServerView): string[] {
  return Object.entries(s.osHints ?? {})
    .filter(([where, v]) => (where.endsWith(' name') ? /\bwin(dows|\d)/i.test(v) : /^windows/i.test(v)))
    .map(([where, v]) => `${where}=${v}`);
}

const looksWindows = (s: ServerView, signs: string[]) => `server ${s.name} (${s.id}) looks like a Windows VM (${signs.join(', ')})`;

/** "The following procedure is available for Linux virtual machines, for the Windows VMs please open a request ticket via SNOW." */
export function windowsMoveRefusal(s: ServerView, what: 'move' | 'rename'): string | undefined {
  const signs = windowsSigns(s);
  return signs.length
    ? `${looksWindows(s, signs)}: the CERN page's ${what} procedure is for Linux VMs only; for a Windows VM open a request ticket via SNOW (nothing was changed)`
    : undefined;
}

/** "For Windows images, please set the property landb-os=WINDOWS": a Windows clone is registered in LanDB only with it. */
export function windowsCloneRefusal(s: ServerView, properties: Record<string, string>): string | undefined {
  const signs = windowsSigns(s);
  if (!signs.length || properties['landb-os'] === 'WINDOWS') return undefined;
  return `${looksWindows(s, signs)}: its clone's image must carry landb-os=WINDOWS to be registered in LanDB and Active Directory (the CERN page); give properties {"landb-os": "WINDOWS"}${properties.os === 'LINUX' ? ' instead of the default os=LINUX' : ''}`;
}

/** The clock resync is a shell script over SSH (chrony, timesyncd): it cannot step a Windows clock. */
export function windowsResyncRefusal(s: ServerView): string | undefined {
  const signs = windowsSigns(s);
  return signs.length
    ? `${looksWindows(s, signs)}: the clock resync after the snapshot runs chrony or systemd-timesyncd over SSH and cannot step a Windows clock; give resyncClock: false and run "w32tm /resync" in the guest once the snapshot is done`
    : undefined;
}

// ---- names: one image and one server per name, ever (a rollback or a DNS name by name must not be ambiguous)

/** openstackSnapshot's new image name: any image of that name but this run's own (a retried create) is a refusal. */
export function snapshotNameRefusal(name: string, found: ImageView[], workflowId: string): string | undefined {
  const other = found.filter((im) => im.madeBy !== workflowId);
  return other.length
    ? `an image named ${name} already exists (${other.map((im) => `${im.id}, ${im.status}${im.madeBy ? `, made by run ${im.madeBy}` : ''}`).join('; ')}): choose another name or delete it first`
    : undefined;
}

/** An image name the copy procedures will create in `cloud` (the raw snapshot, the cleaned image). */
export function imageNameRefusal(cloud: string, name: string, found: ImageView[], workflowId: string): string | undefined {
  const other = found.filter((im) => im.madeBy !== workflowId);
  return other.length
    ? `cloud ${cloud} already has an image named ${name} (${other.map((im) => `${im.id}, ${im.status}`).join('; ')}): choose another name or delete it first`
    : undefined;
}

/** A new server's name in `cloud`; `sourceId`: the source may hold it (a move in one project that keeps the name deletes it first). */
export function serverNameRefusal(cloud: string, name: string, found: ServerView[], workflowId: string, sourceId?: string): string | undefined {
  const other = found.filter((s) => s.madeBy !== workflowId && s.id !== sourceId);
  return other.length ? `cloud ${cloud} already has a server named ${name} (${other.map((s) => `${s.id}, ${s.status}`).join('; ')})` : undefined;
}

// ---- the image copy: what proves each stage before the next may start

/** The cleaned copy on the image host, as `qemu-img info` and `sha512sum` report it. */
export interface CopyChecksum {
  sha512: string;
  bytes: number;
  virtualSize: number;
}

/** Reads `qemu-img info --output=json` and `sha512sum -- FILE` output. */
export function parseCopyChecksum(qemuInfoJson: string, sha512sumOut: string): CopyChecksum {
  const info = JSON.parse(qemuInfoJson) as { 'virtual-size': number; 'actual-size'?: number };
  return { sha512: sha512sumOut.split(/\s/)[0]!, bytes: info['actual-size'] ?? 0, virtualSize: info['virtual-size'] };
}

/** CERN: "check the snapshot is correct (i.e. it seems a reasonable size)": a checksum, and neither file empty. */
export function copyRefusal(c: CopyChecksum, downloadedBytes: number): string | undefined {
  if (!/^[0-9a-f]{128}$/.test(c.sha512)) return 'sha512sum printed no checksum';
  return c.virtualSize <= 0 || downloadedBytes <= 0 ? `the image looks empty (virtual size ${c.virtualSize}, snapshot ${downloadedBytes} bytes)` : undefined;
}

/** The uploaded image is the copy only if glance computed the same sha512 (the source is deleted on this proof). */
export function uploadRefusal(im: ImageView, copySha512: string, where: { cloud: string; host: string }): string | undefined {
  if (im.hashAlgo !== 'sha512' || !im.hashValue) return `glance reports no sha512 for image ${im.id} (${im.hashAlgo ?? 'none'}): cannot prove the upload`;
  return im.hashValue === copySha512
    ? undefined
    : `image ${im.name} (${im.id}) in cloud ${where.cloud} has sha512 ${im.hashValue.slice(0, 16)}…, the copy on ${where.host} ${copySha512.slice(0, 16)}…: the upload is damaged`;
}

/** The new server is done when it has its name, is ACTIVE on the new image and has an address. */
export function newServerRefusal(s: ServerView, name: string, imageId: string): string | undefined {
  const why = [
    s.name !== name && `is named ${s.name}`,
    s.status !== 'ACTIVE' && `is ${s.status}`,
    s.imageId !== imageId && `boots ${s.imageId}, not the new image`,
    s.addresses.length === 0 && 'has no address',
  ].filter(Boolean);
  return why.length ? `new server ${name} (${s.id}) ${why.join(', ')}` : undefined;
}

/** A move or rename keeps the source's flavor unless told otherwise; with none to keep, nova is told why it cannot find one. */
export function keptFlavor(given: string | undefined, source: ServerView, whose: 'source' | 'server'): string {
  return given ?? source.flavor ?? `(the ${whose} shows no flavor: give flavor)`;
}
