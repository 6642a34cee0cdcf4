// virsh on the hypervisor as argv, never shell text with values in it: the small shell wrappers below
// take the domain, limits and the virsh command itself as positional arguments ("$@"), so a name is
// always one argument. Polls are bounded loops on the host (one remote command each, so a dropped SSH
// link re-attaches to the same poll instead of starting another).
import type { LibvirtSettings } from '../../activities/libvirt/libvirt.js';
import { remote, type RemoteCommand } from '../engine/commands.js';

export const virshArgv = (s: LibvirtSettings, args: string[]): string[] => ['virsh', ...(s.uri ? ['-c', s.uri] : []), ...args];

export const virsh = (hypervisor: string, s: LibvirtSettings, args: string[], timeoutSeconds = 120): RemoteCommand =>
  remote(hypervisor, virshArgv(s, args), { sudo: s.sudo, timeoutSeconds });

/** `sh -c SCRIPT name DOMAIN [more…] virsh [-c URI]`: the script calls virsh as `"$@"` after shifting its own arguments. */
function wrapped(hypervisor: string, s: LibvirtSettings, name: string, script: string, args: string[], timeoutSeconds: number): RemoteCommand {
  return remote(hypervisor, ['sh', '-c', script, name, ...args, ...virshArgv(s, [])], { sudo: s.sudo, timeoutSeconds });
}

/** `virsh shutdown` only while running: a retried step must not fail on a domain that is already off. */
export const shutdownIfRunning = (h: string, s: LibvirtSettings, domain: string): RemoteCommand =>
  wrapped(
    h,
    s,
    'shutdown-if-running',
    'd=$1; shift; st=$("$@" domstate "$d") || exit 1; if [ "$st" = running ]; then "$@" shutdown "$d"; else echo "$d is already $st"; fi',
    [domain],
    120,
  );

/** Polls `domstate` every second until "shut off" or `seconds` passed; prints "off" or the state it stayed in. */
export const waitShutOff = (h: string, s: LibvirtSettings, domain: string, seconds: number): RemoteCommand =>
  wrapped(
    h,
    s,
    'wait-shut-off',
    'd=$1; t=$2; shift 2; i=0; while :; do st=$("$@" domstate "$d") || exit 1; [ "$st" = "shut off" ] && { echo off; exit 0; }; [ "$i" -ge "$t" ] && { echo "still $st after ${t}s"; exit 0; }; sleep 1; i=$((i+1)); done',
    [domain, String(seconds)],
    seconds + 60,
  );

/** Hard power-off, only if still running; then it must be shut off. */
export const destroyIfRunning = (h: string, s: LibvirtSettings, domain: string): RemoteCommand =>
  wrapped(
    h,
    s,
    'destroy-if-running',
    'd=$1; shift; st=$("$@" domstate "$d") || exit 1; if [ "$st" != "shut off" ]; then "$@" destroy "$d" || exit 1; fi; st=$("$@" domstate "$d"); echo "$st"; [ "$st" = "shut off" ]',
    [domain],
    120,
  );

/** `virsh start` unless already running (a retry after the start went through). */
export const startIfOff = (h: string, s: LibvirtSettings, domain: string): RemoteCommand =>
  wrapped(
    h,
    s,
    'start-if-off',
    'd=$1; shift; st=$("$@" domstate "$d") || exit 1; if [ "$st" = running ]; then echo "$d is already running"; else "$@" start "$d"; fi',
    [domain],
    120,
  );

/** Shutdown, wait, and destroy if it would not stop: for the rescue system once `rear recover` is over. */
export const stopWithin = (h: string, s: LibvirtSettings, domain: string, seconds: number): RemoteCommand =>
  wrapped(
    h,
    s,
    'stop-within',
    'd=$1; t=$2; shift 2; i=0; st=$("$@" domstate "$d") || exit 1; [ "$st" = running ] && "$@" shutdown "$d"; while :; do st=$("$@" domstate "$d") || exit 1; [ "$st" = "shut off" ] && { echo "shut off after ${i}s"; exit 0; }; [ "$i" -ge "$t" ] && break; sleep 1; i=$((i+1)); done; "$@" destroy "$d" && echo "destroyed after ${t}s"',
    [domain, String(seconds)],
    seconds + 120,
  );

/** ReaR's own console lines (skel/default/etc/scripts/system-setup) for an automatic/unattended recovery. */
export const REAR_FINISHED = "'rear recover' finished successfully";
export const REAR_FAILED = "'rear recover' failed";

/**
 * Watches the serial log from `offset` (its size before this start: the log is appended across boots) for
 * ReaR's result, and the domain's state. Prints "recovery: finished|failed|…"; exits 0 only on success.
 */
export const watchRecovery = (h: string, s: LibvirtSettings, domain: string, log: string, offset: number, seconds: number): RemoteCommand =>
  wrapped(
    h,
    s,
    'watch-recovery',
    [
      'd=$1; log=$2; off=$3; t=$4; ok=$5; bad=$6; shift 6; i=0',
      'while :; do',
      '  new=$(tail -c +$((off + 1)) "$log" 2>/dev/null)',
      '  case "$new" in *"$ok"*) echo "recovery: finished"; exit 0;; *"$bad"*) echo "recovery: failed (ReaR: $bad)"; exit 3;; esac',
      '  st=$("$@" domstate "$d") || exit 1',
      '  [ "$st" = "shut off" ] && { echo "recovery: the domain powered off before ReaR reported a result"; exit 4; }',
      '  [ "$i" -ge "$t" ] && { echo "recovery: no result after ${t}s (domain $st)"; exit 5; }',
      '  sleep 2; i=$((i + 2))',
      'done',
    ].join('\n'),
    [domain, log, String(offset), String(seconds), REAR_FINISHED, REAR_FAILED],
    seconds + 120,
  );

/** Puts the saved definition back if this run saved one (cleanup: safe at any point, a no-op change before the edit). */
export const defineIfSaved = (h: string, s: LibvirtSettings, saved: string): RemoteCommand =>
  wrapped(
    h,
    s,
    'define-if-saved',
    'f=$1; shift; if [ -f "$f" ]; then "$@" define "$f"; else echo "no saved definition: the domain was never edited"; fi',
    [saved],
    120,
  );
