// Input fields of the OpenStack runbooks. Names and references are checked here, before anything reaches a
// cloud: nova filters names as regular expressions, and a new server's name becomes a hostname and a DNS name.
import { z } from 'zod';
import { hostName } from '../engine/input-fields.js';

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

/** Input fields of every runbook that copies a server through an image (clone, move, rename). */
export const imageCopyFields = () => ({
  network: networkId().optional(),
  /** Glance properties of the cleaned image; default {"os": "LINUX"} (CERN; Windows: {"landb-os": "WINDOWS"}). */
  properties: imageProperties().optional(),
  /** `qemu-img amend -o compat=0.10` before virt-sysprep: an SLC6-era image (CERN). */
  amendCompat: z.literal(true).optional(),
  /** The inventory host that downloads, sysprepes and uploads the image (CERN: an lxplus machine). */
  via: hostName().optional(),
});

/** The host the image files live on during the copy. */
export const imageHostOf = (i: { via?: string }): string => i.via ?? 'cloud-client';

/** The cleaned image's properties when the input names none (CERN: os=LINUX registers the VM in LanDB). */
export const propertiesOf = (i: { properties?: Record<string, string> }): Record<string, string> => i.properties ?? { os: 'LINUX' };
