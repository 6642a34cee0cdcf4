// /etc/rear/local.conf as rearBackup renders it, from validated input only. ReaR `source`s this file as
// bash, so every value is single-quoted (the input schemas already admit no quote, `$` or newline: this is
// the second wall). Variables and their meaning: ReaR 2.7 usr/share/rear/conf/default.conf.
import { z } from 'zod';
import rescueStoreKey from './scripts/rescue-store-key.sh';

/** A BACKUP_PROG_EXCLUDE entry: an absolute path, "*" allowed as a glob ("/var/cache/*"). */
export const excludePattern = () =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._/*-]{1,200}$/, 'an absolute path or glob (letters, digits, "._-/*")')
    .refine((p) => !p.split('/').includes('..'), 'no ".."');

/** A path for BACKUP_PROG_INCLUDE. */
export const includePath = () =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'an absolute path (letters, digits, "._-/")')
    .refine((p) => !p.split('/').includes('..'), 'no ".."');

/** An installed kernel's version (/boot/vmlinuz-<version>, /lib/modules/<version>). */
export const kernelVersion = () => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/, 'a kernel version such as 6.1.0-56-amd64');

export const BOOTLOADERS = ['GRUB2', 'GRUB', 'EFI', 'ELILO'] as const;

export interface RearConfig {
  node: string;
  store: string;
  /** The store's address, when the node's /etc/hosts lacks it: the rescue system gets a hosts line for it. */
  storeAddress?: string;
  storePort: number;
  user: string;
  /** The store's base directory; ReaR adds <node>/ for the backup, the ISO goes to the same place. */
  path: string;
  exclude: string[];
  includeOnly?: string[];
  unattended: boolean;
  rescueKernel?: string;
  bootloader?: (typeof BOOTLOADERS)[number];
  workflowId: string;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const list = (xs: string[]): string => `( ${xs.map(q).join(' ')} )`;

/** Where ReaR's sftp upload puts the ISO: the URL's own path (no <hostname>/ added for sftp). */
export const outputUrl = (c: RearConfig): string =>
  // "user:@": an empty password. Without it lftp asks for one on a terminal there is none of, and loops on
  // "GetPass() failed"; with it, ssh authenticates with root's key as usual.
  `sftp://${c.user}:@${c.store}${c.storePort === 22 ? '' : `:${c.storePort}`}${c.path}/${c.node}/`;

/** Where NETFS writes backup.tar.gz: <path>/<hostname>/ on the store, mounted with sshfs. */
export const backupUrl = (c: RearConfig): string => `sshfs://${c.user}@${c.store}${c.path}/`;

export function renderLocalConf(c: RearConfig): string {
  const lines = [
    `# Rendered by the runbooks rearBackup workflow (${c.workflowId}) for ${c.node}; rewritten on every run.`,
    'OUTPUT=ISO',
    `OUTPUT_URL=${q(outputUrl(c))}`,
    'BACKUP=NETFS',
    `BACKUP_URL=${q(backupUrl(c))}`,
    // A dead link must end the tar, not hang it (rear(8) on sshfs).
    `BACKUP_OPTIONS=${q(`rw,noatime,ServerAliveInterval=15${c.storePort === 22 ? '' : `,port=${c.storePort}`}`)}`,
    'BACKUP_PROG_COMPRESS_OPTIONS=( --gzip )',
    "BACKUP_PROG_COMPRESS_SUFFIX='.gz'",
    `BACKUP_PROG_EXCLUDE+=${list(['/tmp/*', '/var/tmp/*', ...c.exclude])}`,
  ];
  if (c.includeOnly) lines.push("BACKUP_ONLY_INCLUDE='yes'", `BACKUP_PROG_INCLUDE=${list(c.includeOnly)}`);
  if (c.rescueKernel) lines.push(`KERNEL_VERSION=${q(c.rescueKernel)}`, `KERNEL_FILE=${q(`/boot/vmlinuz-${c.rescueKernel}`)}`);
  if (c.bootloader) lines.push(`BOOTLOADER=${q(c.bootloader)}`);
  // The rescue image holds no key for the store (it lies on the store beside the backup, readable by whoever
  // reads backups): root's known_hosts (the store's pinned key) and authorized_keys (rescue access by key,
  // never SSH_ROOT_PASSWORD) only. SSH_FILES lists exactly these files (the [] make a missing one drop out);
  // the pattern form of SSH_UNPROTECTED_PRIVATE_KEYS removes host keys. The key `rear recover` mounts
  // BACKUP_URL with comes at recovery time, on rearControllerRecovery's RBKEY drive, authorized for that
  // run only: runbooks_recovery_key (scripts/rescue-store-key.sh) copies it before the mount.
  lines.push(
    `SSH_FILES=${list(['/etc/ssh/modu[l]i', '/etc/ssh/ssh_co[n]fig', '/etc/ssh/sshd_co[n]fig', ...['authorized_ke[y]s', 'known_hos[t]s'].map((f) => `/root/.ssh/${f}`)])}`,
    `SSH_UNPROTECTED_PRIVATE_KEYS=${list(['etc/ssh/ssh_host_*_key'])}`,
    rescueStoreKey.trim(),
    "PRE_RECOVERY_COMMANDS+=( 'runbooks_recovery_key' )",
  );
  if (c.storeAddress) {
    // The seed: "it's possible that the host undercloud-0 can't be resolved": the line it adds by hand.
    const line = `${c.storeAddress} ${c.store}`;
    lines.push(`PRE_RECOVERY_COMMANDS+=( ${q(`grep -qw ${c.store} /etc/hosts || echo ${line} >> /etc/hosts`)} )`);
  }
  if (c.unattended) {
    // ISO_DEFAULT has no "unattended" value: "automatic" plus ISO_RECOVER_MODE gives `auto_recover unattended`
    // (BIOS/ISOLINUX only). The ISO must not stay first in the boot order afterwards: endless recovery loop.
    lines.push("ISO_DEFAULT='automatic'", "ISO_RECOVER_MODE='unattended'");
  } else {
    lines.push("ISO_DEFAULT='manual'");
  }
  return `${lines.join('\n')}\n`;
}
