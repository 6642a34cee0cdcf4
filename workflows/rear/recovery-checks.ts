// What rearControllerRecovery decides before and after it touches the domain: is this backup record the
// rescue image of this host, may this domain be edited, did the edit and the way back take. Pure functions
// of the record and of the domain facts the libvirt activities read (test/unit/rear.test.ts).
import type { DomainState } from '../../activities/libvirt/libvirt.js';
import type { MachineIdentity } from './identity.js';

/** rearBackup's record of one controller's backup (the documented contract between the two runbooks). */
export interface RecordedBackup {
  host: string;
  iso: { file: string; sha256: string; bytes: number };
  backup: { file: string; sha256: string; bytes: number };
  rearVersion?: string;
  /** Written by rearBackup since issue 19: the ISO boots straight into `rear recover`. */
  unattended?: boolean;
  recordedAt: string;
  workflowId?: string;
  /** Written by rearBackup since the identity patch: what the recovered machine must match. */
  identity?: MachineIdentity;
}

/** What the checks need of the input. */
export interface RecoveryTarget {
  domain: string;
  /** The controller's host name in the backup (ReaR's $HOSTNAME); default: the domain name. */
  host?: string;
  storePath: string;
  mode: 'manual' | 'unattended';
}

export const hostOf = (t: Pick<RecoveryTarget, 'host' | 'domain'>): string => t.host ?? t.domain;
export const isoName = (t: Pick<RecoveryTarget, 'host' | 'domain'>): string => `rear-${hostOf(t)}.iso`;
const hexSha = /^[0-9a-f]{64}$/;
export const isRescueIso = (src?: string): boolean => Boolean(src && /(^|\/)rear-[^/]*\.iso$/.test(src));

/** Files of this run on the hypervisor: named by domain and run, so two runs never share a saved copy. */
export const runFile = (isoDir: string, domain: string, workflowId: string, suffix: string): string =>
  `${isoDir}/${domain}.${workflowId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80)}.${suffix}`;

export function recordRefusal(r: RecordedBackup, t: RecoveryTarget): string | undefined {
  const host = hostOf(t);
  if (r.host !== host) return `the backup record in ${t.storePath}/${host}/ is for host "${r.host}", not "${host}": refused`;
  if (r.iso?.file !== isoName(t)) return `the record's ISO is "${r.iso?.file}", not ${isoName(t)} (the rescue image of ${host}): refused`;
  if (!hexSha.test(r.iso.sha256 ?? '')) return `the record has no valid sha256 for ${r.iso.file}`;
  if (r.backup?.file !== 'backup.tar.gz' || !hexSha.test(r.backup.sha256 ?? '') || !(r.backup.bytes > 0))
    return `the record has no valid sha256 and size for the archive backup.tar.gz: it cannot be checked before the disks are overwritten`;
  if (r.unattended === true && t.mode === 'manual')
    return `the ISO recorded ${r.recordedAt} was built for unattended recovery: it boots straight into rear recover and overwrites the disks without asking; mode "manual" would say otherwise: use mode "unattended" or a manual backup`;
  if (r.unattended === false && t.mode === 'unattended')
    return `the ISO recorded ${r.recordedAt} was built for manual recovery (ISO_DEFAULT=manual): nothing would run rear recover in mode "unattended"`;
  return undefined;
}

/** scripts/measure.sh on the store: the ISO and the archive must be the record's, byte for byte. */
export function storedRefusal(
  r: RecordedBackup,
  dir: string,
  m: Record<string, { bytes: number; sha256: string } | undefined>,
  checks: Record<string, string> = {},
): string | undefined {
  for (const want of [r.iso, r.backup]) {
    const got = m[want.file];
    if (!got) return `${dir}/${want.file} is missing or empty on the store: refused before anything is powered off`;
    if (got.bytes !== want.bytes || got.sha256 !== want.sha256)
      return `${dir}/${want.file} is ${got.bytes} bytes, sha256 ${got.sha256.slice(0, 12)}…; the backup record says ${want.bytes} bytes, ${want.sha256.slice(0, 12)}…: refused (a later or broken backup)`;
  }
  if (checks[r.backup.file] && checks[r.backup.file] !== 'ok') return `${dir}/${r.backup.file} does not list to its end (tar -tzf): refused`;
  return undefined;
}

/** `sha256sum`'s first word. */
export const shaOf = (text: string): string => text.split(' ')[0] ?? '';

/** Why the domain must not be touched: it already boots (or runs) a rescue ISO, or its definition is unusable. */
export function domainRefusal(d: DomainState, t: RecoveryTarget): string | undefined {
  if (!d.inactive.uuid) return `${t.domain} has no UUID in its definition`;
  const liveIso = d.live?.cdroms.find((c) => isRescueIso(c.source));
  if (liveIso && d.live?.firstBoot.startsWith('cdrom:')) {
    return `${t.domain} is already running a rescue ISO (${liveIso.source} on ${liveIso.target}, booted first): a recovery is in progress or was left running; finish or stop it first`;
  }
  const defIso = d.inactive.cdroms.find((c) => isRescueIso(c.source));
  if (defIso && d.inactive.firstBoot.startsWith('cdrom:')) {
    return `${t.domain}'s definition already boots a rescue ISO first (${defIso.source}): an earlier recovery left it edited; define its saved original first`;
  }
  if (t.mode === 'unattended' && d.inactive.firmware === 'efi') {
    return `mode: ${t.domain} boots with UEFI; ReaR's unattended ISO mode drives only the BIOS ISOLINUX menu (BIOS guests only): use mode "manual"`;
  }
  if (t.mode === 'unattended' && !d.inactive.serialLog) {
    return `unattended mode reads ReaR's lines from the serial console's log, and ${t.domain} has none (<serial><log file=…/>): use mode "manual" or add one`;
  }
  return undefined;
}

/** After `virsh define` of the rescue definition: the ISO boots first, and the domain is still off. */
export function editedRefusal(d: DomainState, domain: string, iso: string): string | undefined {
  if (d.inactive.firstBoot !== `cdrom:${iso}`) return `after define, ${domain} boots ${d.inactive.firstBoot} first, not the cdrom with ${iso}`;
  // libvirt's own view: the QEMU command line it would run gives bootindex 1 to the drive reading the ISO.
  if (d.nativeFirstBoot !== undefined && d.nativeFirstBoot !== `file:${iso}`)
    return `after define, libvirt's QEMU command line (domxml-to-native) boots ${d.nativeFirstBoot} first (bootindex=1), not ${iso}`;
  return d.state === 'shut off' ? undefined : `${domain} is ${d.state}, expected shut off`;
}

/** At the end: running, and not booting the rescue ISO first (the definition's own cdroms may come first, as before). */
export function fromDiskRefusal(d: DomainState, domain: string): string | undefined {
  if (d.state !== 'running') return `${domain} is ${d.state} after start`;
  if (!d.live) return `${domain} has no live definition after start`;
  const first = d.live.firstBoot;
  return first.startsWith('cdrom:') && isRescueIso(first.slice('cdrom:'.length)) ? `${domain} still boots ${first} first` : undefined;
}

/** A drill recovers with nobody at the console: only an ISO built for unattended recovery runs `rear recover` by itself. */
export function drillRefusal(r: RecordedBackup, name: string, domain: string): string | undefined {
  if (name === domain) return `name: the copy must not be called ${domain}, the domain it copies`;
  if (r.unattended !== true)
    return `the ISO recorded ${r.recordedAt} was ${r.unattended === false ? 'built for manual recovery' : 'not recorded as unattended (an older record)'}: a drill needs one that runs rear recover by itself (rearBackup with unattended: true)`;
  return undefined;
}
