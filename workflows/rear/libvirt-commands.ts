// virsh on the hypervisor as argv, never shell text with values in it: the small host scripts below
// (scripts/*.sh) take the domain, limits and the virsh command itself as positional arguments ("$@"), so a
// name is always one argument. Polls are bounded loops on the host (one remote command each, so a dropped
// SSH link re-attaches to the same poll instead of starting another).
import type { LibvirtSettings } from '../../activities/libvirt/libvirt.js';
import { remote, type RemoteCommand } from '../engine/commands.js';
import defineIfSavedScript from './scripts/define-if-saved.sh';
import destroyIfRunningScript from './scripts/destroy-if-running.sh';
import shutdownIfRunningScript from './scripts/shutdown-if-running.sh';
import startIfOffScript from './scripts/start-if-off.sh';
import stopWithinScript from './scripts/stop-within.sh';
import waitShutOffScript from './scripts/wait-shut-off.sh';
import watchRecoveryScript from './scripts/watch-recovery.sh';
import drillAbsentScript from './scripts/drill-absent.sh';
import drillDisksScript from './scripts/drill-disks.sh';
import removeDrillScript from './scripts/remove-drill.sh';
import watchBootScript from './scripts/watch-boot.sh';
import scanHostKeysScript from './scripts/scan-host-keys.sh';

export const virshArgv = (s: LibvirtSettings, args: string[]): string[] => ['virsh', ...(s.uri ? ['-c', s.uri] : []), ...args];

export const virsh = (hypervisor: string, s: LibvirtSettings, args: string[], timeoutSeconds = 120): RemoteCommand =>
  remote(hypervisor, virshArgv(s, args), { sudo: s.sudo, timeoutSeconds });

/** `sh -c SCRIPT name DOMAIN [more…] virsh [-c URI]`: the script calls virsh as `"$@"` after shifting its own arguments. */
function wrapped(hypervisor: string, s: LibvirtSettings, name: string, script: string, args: string[], timeoutSeconds: number): RemoteCommand {
  return remote(hypervisor, ['sh', '-c', script, name, ...args, ...virshArgv(s, [])], { sudo: s.sudo, timeoutSeconds });
}

/** `virsh shutdown` only while running: a retried step must not fail on a domain that is already off. */
export const shutdownIfRunning = (h: string, s: LibvirtSettings, domain: string): RemoteCommand =>
  wrapped(h, s, 'shutdown-if-running', shutdownIfRunningScript, [domain], 120);

/** Polls `domstate` every second until "shut off" or `seconds` passed; prints "off" or the state it stayed in. */
export const waitShutOff = (h: string, s: LibvirtSettings, domain: string, seconds: number): RemoteCommand =>
  wrapped(h, s, 'wait-shut-off', waitShutOffScript, [domain, String(seconds)], seconds + 60);

/** scripts/wait-shut-off.sh's answer: "off", or "still <state> after <n>s". */
export function parseShutOff(text: string): { off: boolean; says: string } {
  const says = text.trim();
  return { off: says === 'off', says };
}

/** Hard power-off, only if still running; then it must be shut off. */
export const destroyIfRunning = (h: string, s: LibvirtSettings, domain: string): RemoteCommand =>
  wrapped(h, s, 'destroy-if-running', destroyIfRunningScript, [domain], 120);

/** `virsh start` unless already running (a retry after the start went through). */
export const startIfOff = (h: string, s: LibvirtSettings, domain: string): RemoteCommand => wrapped(h, s, 'start-if-off', startIfOffScript, [domain], 120);

/** Shutdown, wait, and destroy if it would not stop: for the rescue system once `rear recover` is over. */
export const stopWithin = (h: string, s: LibvirtSettings, domain: string, seconds: number): RemoteCommand =>
  wrapped(h, s, 'stop-within', stopWithinScript, [domain, String(seconds)], seconds + 120);

/** ReaR's own console lines (skel/default/etc/scripts/system-setup) for an automatic/unattended recovery. */
export const REAR_FINISHED = "'rear recover' finished successfully";
export const REAR_FAILED = "'rear recover' failed";

/**
 * Watches the serial log from `offset` (its size before this start: the log is appended across boots) for
 * ReaR's result, and the domain's state. Prints "recovery: finished|failed|…"; exits 0 only on success.
 */
export const watchRecovery = (h: string, s: LibvirtSettings, domain: string, log: string, offset: number, seconds: number): RemoteCommand =>
  wrapped(h, s, 'watch-recovery', watchRecoveryScript, [domain, log, String(offset), String(seconds), REAR_FINISHED, REAR_FAILED], seconds + 120);

/** Puts the saved definition back if this run saved one (cleanup: safe at any point, a no-op change before the edit). */
export const defineIfSaved = (h: string, s: LibvirtSettings, saved: string): RemoteCommand =>
  wrapped(h, s, 'define-if-saved', defineIfSavedScript, [saved], 120);

/** The size of a file on the hypervisor, 0 if there is none (where the serial log's new lines start). */
export const fileSize = (h: string, s: LibvirtSettings, file: string): RemoteCommand =>
  remote(h, ['sh', '-c', 'stat -c %s -- "$1" 2>/dev/null || echo 0', 'log-size', file], { sudo: s.sudo });

/**
 * A stream's receiving end: written under a temporary name and renamed, so a broken copy never has the ISO's
 * name. Owner-only: the rescue image holds root's store key (libvirt hands the file to QEMU at start).
 */
export const receiveFile = (h: string, s: LibvirtSettings, file: string): RemoteCommand =>
  remote(h, ['sh', '-c', 'umask 077 && cat > "$1.partial" && mv -f -- "$1.partial" "$1"', 'receive-iso', file], { sudo: s.sudo });

/** rearRecoveryDrill: the copy's name is free, this run's already, or taken ("free" / "ours" / "taken"). */
export const drillAbsent = (h: string, s: LibvirtSettings, name: string, runTag: string): RemoteCommand =>
  wrapped(h, s, 'drill-absent', drillAbsentScript, [name, runTag], 60);

/** The copy's empty qcow2 disks, each as large as the original's. */
export const drillDisks = (h: string, s: LibvirtSettings, disks: { path: string; bytes: number }[]): RemoteCommand =>
  remote(h, ['sh', '-c', drillDisksScript, 'drill-disks', ...disks.flatMap((d) => [d.path, String(d.bytes)])], { sudo: s.sudo, timeoutSeconds: 300 });

/** The copy's first boot from disk: its serial log shows the recorded host's login prompt. */
export const watchBoot = (h: string, s: LibvirtSettings, domain: string, log: string, offset: number, seconds: number, host: string): RemoteCommand =>
  wrapped(h, s, 'watch-boot', watchBootScript, [domain, log, String(offset), String(seconds), `${host} login:`], seconds + 120);

/** The copy undefined (only if its description names this run) and its files removed. */
export const removeDrill = (h: string, s: LibvirtSettings, name: string, runTag: string, files: string[]): RemoteCommand =>
  remote(h, ['sh', '-c', removeDrillScript, 'remove-drill', name, runTag, ...files, '--', ...virshArgv(s, [])], { sudo: s.sudo, timeoutSeconds: 300 });

/** The host keys on the copy's SSH forward, from the hypervisor (the forward listens there, on loopback). */
export const scanHostKeys = (h: string, port: number, seconds: number): RemoteCommand =>
  remote(h, ['sh', '-c', scanHostKeysScript, 'scan-host-keys', '127.0.0.1', String(port), String(seconds)], { timeoutSeconds: seconds + 120 });
