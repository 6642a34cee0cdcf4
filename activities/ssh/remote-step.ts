// The host side of a step. Each command runs detached on the host under a run key, in its own session
// (setsid), with its output, pid, boot id and exit status kept in ~/.runbooks/runs/<workflow>/<key>/.
// A new attempt with the same key (worker crash, server restart, dropped SSH link) ATTACHES to the first
// execution instead of starting it again, so a one-shot command runs at most once per key. Every start
// appends a line to ~/.runbooks/audit.log on the host: the host's own record of what ran.
//
// The script is a constant: user values reach it only as positional arguments quoted by quoteArgv.
// Files are read with the shell's own `read`, not `$(cat …)`: each command substitution forks a subshell
// and a cat, and a one-shot step's start and status cost about 30 processes that way (17 ms a step here).
import { createHash } from 'node:crypto';

export const STEP_SCRIPT = String.raw`
set -u
key=$1; mode=$2; hasin=$3; cwd=$4; shift 4
d="$HOME/.runbooks/runs/$key"
mkdir -p "${'${d%/*}'}" || exit 97
{ read -r boot < /proc/sys/kernel/random/boot_id; } 2>/dev/null || boot=unknown
start() {
  mkdir "$d" 2>/dev/null || return 1
  if [ -n "$inp" ]; then mv "$inp" "$d/in"; inp=; else : > "$d/in"; fi
  printf '%s\n' "$boot" > "$d/boot"
  # One line per start: a host script passed as an argument spans lines, so its newlines become spaces.
  line=$*
  case $line in *'
'*) line=$(printf '%s' "$line" | tr '\n' ' ') ;; esac
  printf '%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$key" "$mode" "$line" >> "$HOME/.runbooks/audit.log"
  # The lock is taken here and handed to the command's shell (fd 9): it is free again once that shell has
  # written rc and exited, so an attach can wait for a short command's end instead of polling for it.
  exec 9> "$d/lock"
  flock 9 2>/dev/null
  RB_D="$d" RB_CWD="$cwd" setsid sh -c '
    trap "" HUP
    if [ -n "$RB_CWD" ]; then cd "$RB_CWD" || { echo 96 > "$RB_D/rc"; exit 96; }; fi
    "$@" < "$RB_D/in" > "$RB_D/out" 2> "$RB_D/err" 9>&-
    echo $? > "$RB_D/rc.tmp" && mv "$RB_D/rc.tmp" "$RB_D/rc"' rb-step "$@" < /dev/null > /dev/null 2>&1 &
  echo $! > "$d/pid.tmp" && mv "$d/pid.tmp" "$d/pid"
  exec 9>&-
  return 0
}
alive() {
  i=0
  while [ ! -f "$d/pid" ] && [ ! -f "$d/rc" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  [ -f "$d/pid" ] && { read -r b < "$d/boot"; } 2>/dev/null && [ "$b" = "$boot" ] && read -r p < "$d/pid" && kill -0 "$p" 2>/dev/null
}
if [ "$mode" = kill ]; then
  [ -f "$d/pid" ] || exit 0
  # A pid recorded before a reboot names some other process now (maybe root's): never signal it.
  { read -r b < "$d/boot"; } 2>/dev/null || b=
  if [ "$b" != "$boot" ]; then echo "rb-step: $key started on boot $b, the host is on $boot: nothing to kill" >&2; exit 0; fi
  read -r pid < "$d/pid"
  tree() { echo "$1"; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree "$c"; done; }
  pids=$(tree "$pid" | tr '\n' ' ')
  kill -TERM -- "-$pid" $pids 2>/dev/null || sudo -n kill -TERM -- "-$pid" $pids 2>/dev/null
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL -- "-$pid" $pids 2>/dev/null || sudo -n kill -KILL -- "-$pid" $pids 2>/dev/null
  exit 0
fi
if [ "$mode" = status ]; then
  if [ -f "$d/rc" ]; then
    read -r rc < "$d/rc"; n=0
    if [ -f "$d/starts" ]; then while read -r _; do n=$((n+1)); done < "$d/starts"; fi
    echo "rc $rc starts $n"
  elif alive; then echo running
  elif [ -f "$d/pid" ]; then echo lost
  elif [ -d "$d" ]; then echo unstarted
  else echo absent; fi
  exit 0
fi
# Stdin arrives whole before the run key is claimed, and is checked against the size and sha256 the worker
# sent ("<bytes>.<sha256>"): a link cut mid-upload is only an early end-of-file, and a command must never
# run on part of its input. A mismatch claims nothing, so the next attempt uploads it again.
inp=
if [ "$hasin" != 0 ]; then
  inp="$d.in.$$"
  cat > "$inp" || { rm -f "$inp"; exit 95; }
  n=$(wc -c < "$inp"); n=$((n+0)); sum=$(sha256sum < "$inp"); sum=${'${sum%% *}'}
  if [ "$n.$sum" != "$hasin" ]; then
    rm -f "$inp"
    echo "rb-stdin-mismatch received $n bytes sha256 $sum, expected $hasin; nothing was run" >&2
    exit 95
  fi
fi
attached=0
if ! start "$@"; then
  attached=1
  # Already started under this key: attach, unless an idempotent command failed or vanished (run it again).
  if [ "$mode" = again ] && { { [ -f "$d/rc" ] && read -r rc < "$d/rc" && [ "$rc" != 0 ]; } || { [ ! -f "$d/rc" ] && ! alive; }; }; then
    mv "$d" "$d.superseded.$(date +%s%N)"
    start "$@" || exit 98
    attached=0
  fi
fi
[ -z "$inp" ] || rm -f "$inp"
echo x >> "$d/starts"
# A command that ends within 50 ms is read whole below rather than followed (tail polls every 20 ms).
# Without flock on the host this simply returns at once.
if [ ! -f "$d/rc" ]; then flock -w 0.05 "$d/lock" true 2>/dev/null; fi
if [ ! -f "$d/rc" ] && alive; then
  read -r pid < "$d/pid"
  exec 3>&2
  tail -q -s 0.02 -c +1 --pid="$pid" -F "$d/err" 2>/dev/null 1>&3 &
  t=$!
  tail -q -s 0.02 -c +1 --pid="$pid" -F "$d/out" 2>/dev/null
  wait $t
else
  if [ -s "$d/err" ]; then cat "$d/err" 1>&2; fi
  if [ -s "$d/out" ]; then cat "$d/out"; fi
fi
# The exit status tells how it ended, so the worker need not ask with "status" (one exec less per step):
# 100 + rc for a command this call started, 164 + rc for one it attached to, when rc < 64. Any other
# status (0, or a command's rc of 64 and over) means: ask.
if [ -f "$d/rc" ] && read -r rc < "$d/rc" && [ "$rc" -ge 0 ] 2>/dev/null && [ "$rc" -lt 64 ]; then
  if [ "$attached" = 1 ]; then exit $((164 + rc)); fi
  exit $((100 + rc))
fi
exit 0
`;

/** What the step script's exit status says when it carries the command's end (see its last lines). */
export function endedStatus(code: number | null): { exitCode: number; reattached: boolean } | undefined {
  if (code === null || code < 100 || code >= 228) return undefined;
  return code >= 164 ? { exitCode: code - 164, reattached: true } : { exitCode: code - 100, reattached: false };
}

/** Where a run key lives on the host, relative to ~/.runbooks/runs. Only [A-Za-z0-9._-] reach the host. */
export function hostRunKey(workflowId: string, runId: string, runKey: string): string {
  const wf = `${workflowId}`.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
  const run = `${runId}`.replace(/[^A-Za-z0-9-]+/g, '').slice(0, 36);
  return `${wf}.${run}/${runKey.replace(/[^A-Za-z0-9._-]+/g, '_')}`;
}

/** What the host checks a command's stdin against before anything runs: "<bytes>.<sha256>" of its UTF-8. */
export function stdinTag(stdin: string): string {
  const b = Buffer.from(stdin, 'utf8');
  return `${b.length}.${createHash('sha256').update(b).digest('hex')}`;
}

/** The host's word for a stdin that did not arrive whole (exit 95, on stderr). */
export const STDIN_MISMATCH = 'rb-stdin-mismatch';
