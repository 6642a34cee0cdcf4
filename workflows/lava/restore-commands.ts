// The commands LAVA restore runbooks run on a master or worker. Order and checks follow LAVA's "Restoring
// a master from a backup" (admin-backups.rst); facts and the two upstream doc bugs are in procedures.md A.
// Nothing here ever runs `migrate` or `makemigrations`: a restore must not change the schema.
import { remote, type RemoteCommand } from '../engine/commands.js';
import type { LavaDatabase } from './commands.js';

/** Where a restore keeps the files it fetched from the store, per run (root only, 0700). */
export const RESTORE_ROOT = '/var/tmp/runbooks-restore';

export function lavaManage(master: string, args: string[]): RemoteCommand {
  return remote(master, ['lava-server', 'manage', ...args], { sudo: true });
}

/** The daemons a restore stops, in the doc's order; gunicorn (the UI) is started last, after `reopen`. */
export const LAVA_SERVICES = ['lava-server-gunicorn', 'lava-scheduler', 'lava-worker', 'lava-publisher'];
export const LAVA_BACKGROUND = ['lava-scheduler', 'lava-publisher', 'lava-worker'];
export const LAVA_LOGS: Record<string, string> = {
  'lava-scheduler': '/var/log/lava-server/lava-scheduler.log',
  'lava-publisher': '/var/log/lava-server/lava-publisher.log',
  'lava-worker': '/var/log/lava-dispatcher/lava-worker.log',
};

/** "newer|equal|older <installed>" of the installed lava-server against the bundle's version (dpkg's order). */
export function compareInstalled(host: string, pkg: string, bundleVersion: string): RemoteCommand {
  return remote(host, [
    'sh',
    '-c',
    'v=$(dpkg-query -W -f "$3" "$1" 2>/dev/null) || { echo "missing -"; exit 0; }; ' +
      'if dpkg --compare-versions "$v" gt "$2"; then echo "newer $v"; elif dpkg --compare-versions "$v" eq "$2"; then echo "equal $v"; else echo "older $v"; fi',
    'compare',
    pkg,
    bundleVersion,
    '${Version}',
  ]);
}

export function freeBytesAt(host: string, dir: string): RemoteCommand {
  return remote(host, ['sh', '-c', 'df -PB1 "$1" | awk "NR==2 {print \\$4}"', 'df', dir]);
}

export function serviceAll(host: string, action: 'start' | 'stop', services: string[]): RemoteCommand {
  return remote(host, ['sh', '-c', 'for s in "$@"; do service "$s" ' + action + ' || exit $?; done', action, ...services], { sudo: true });
}

/** One line per service: "running NAME" or "stopped NAME" (LSB status: 0 running, 3 not running). */
export function serviceStates(host: string, services: string[]): RemoteCommand {
  return remote(
    host,
    ['sh', '-c', 'for s in "$@"; do if service "$s" status >/dev/null 2>&1; then echo "running $s"; else echo "stopped $s"; fi; done', 'status', ...services],
    {
      sudo: true,
    },
  );
}

/** Receives one bundle file into this run's private restore directory on the master. */
export function receiveForRestore(master: string, dir: string, file: string): RemoteCommand {
  return remote(master, ['sh', '-c', 'umask 077 && mkdir -p "$1" && cat > "$1/$2"', 'receive', dir, file], { sudo: true });
}

export function sha256Files(host: string, dir: string, files: string[]): RemoteCommand {
  return remote(host, ['sh', '-c', 'cd "$1" && shift && sha256sum -- "$@"', 'sha', dir, ...files], { sudo: true });
}

/** Only a local PostgreSQL (socket, `runuser -u postgres`) can be replaced by this runbook. */
export const LOCAL_DB_HOSTS = ['localhost', '127.0.0.1', '::1', ''];

// Dumps the database as it is now, or says there is none (a damaged master may have lost it). The
// restore never proceeds without this copy on the store.
const DUMP_CURRENT = `
port=$1 name=$2
if [ "$(runuser -u postgres -- psql -X -At -p "$port" -d postgres -c "select count(*) from pg_database where datname = '$name'")" = 1 ]; then
  exec nice -n 10 runuser -u postgres -- pg_dump -p "$port" "$name"
fi
echo "-- runbooks: database $name did not exist before the restore"`;

export function dumpCurrentDatabase(master: string, db: LavaDatabase): RemoteCommand {
  return remote(master, ['sh', '-c', DUMP_CURRENT, 'dump-current', String(db.port), db.name], { sudo: true });
}

// Replaces the database with the bundle's dump, once: refuses while sessions are open; keeps the original
// encoding and collation (postinst's UTF8 / C.UTF-8 when there is no database); restores with
// ON_ERROR_STOP; records row counts in a state file so that running it again after a crash of the host
// reports the restore instead of dropping the restored database a second time.
const REPLACE_DATABASE = `
set -eu
dir=$1 port=$2 name=$3 owner=$4; shift 4
state="$dir/database-restored"
pg() { runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p "$port" "$@"; }
counts() { for t in "$@"; do printf '%s|%s\\n' "$t" "$(pg -d "$name" -c "select count(*) from $t")"; done; }
if [ -f "$state" ]; then echo "already restored by this run"; cat "$state"; exit 0; fi
sessions=$(pg -d postgres -c "select count(*) from pg_stat_activity where datname = '$name'")
[ "$sessions" = 0 ] || { echo "$sessions open sessions on $name: stop every LAVA service first" >&2; exit 3; }
enc=UTF8 coll=C.UTF-8 ctype=C.UTF-8
row=$(pg -d postgres -F ' ' -c "select pg_encoding_to_char(encoding), datcollate, datctype from pg_database where datname = '$name'")
if [ -n "$row" ]; then enc=$(echo "$row" | cut -d' ' -f1) coll=$(echo "$row" | cut -d' ' -f2) ctype=$(echo "$row" | cut -d' ' -f3); fi
pg -d postgres -c "drop database if exists \\"$name\\""
pg -d postgres -c "create database \\"$name\\" owner \\"$owner\\" encoding '$enc' lc_collate '$coll' lc_ctype '$ctype' template template0"
if ! runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d "$name" -f - < "$dir/lava-server.sql" > "$dir/restore.log" 2>&1; then
  grep -m1 ERROR "$dir/restore.log" >&2 || tail -n 3 "$dir/restore.log" >&2; exit 4
fi
echo "encoding $enc collate $coll ctype $ctype" > "$state.tmp"
counts "$@" >> "$state.tmp"
mv "$state.tmp" "$state"
cat "$state"`;

export function replaceDatabase(master: string, dir: string, db: LavaDatabase, tables: string[]): RemoteCommand {
  return remote(master, ['sh', '-c', REPLACE_DATABASE, 'replace-db', dir, String(db.port), db.name, db.user, ...tables], { sudo: true });
}

/** `showmigrations --plan`: "[ ]" marks one not applied. Read-only; LAVA's own `wait migrations` does the same. */
export function showMigrations(master: string): RemoteCommand {
  return lavaManage(master, ['showmigrations', '--plan']);
}

/** Device lines of `devices list` for the given health values (flags UPPERCASE, output Title-case). */
export function devicesWithHealth(master: string, health: string[]): RemoteCommand {
  return remote(master, ['sh', '-c', 'for h in "$@"; do lava-server manage devices list --health "$h" | grep "^\\*" || true; done', 'health', ...health], {
    sudo: true,
  });
}

export function devicesCsv(master: string): RemoteCommand {
  return lavaManage(master, ['devices', 'list', '--all', '--csv']);
}

/** Hostname and health of every device from `devices list --all --csv`. */
export const healthOf = (csv: string): { hostname: string; health: string }[] =>
  csv
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .filter(Boolean)
    .map((l) => {
      // `devices list --csv` writes CRLF line ends (Python's csv module).
      const [hostname = '', , , health = ''] = l.trim().split(',');
      return { hostname, health };
    });

export function extractTar(host: string, tar: string, members: string[] = []): RemoteCommand {
  return remote(host, ['tar', '-C', '/', '-xpf', tar, ...(members.length ? ['--', ...members] : [])], { sudo: true });
}

// pg_dump carries no roles: the restored settings may hold another password than the role has. Sets the
// role's password from the settings (and the LAVA user's .pgpass line, if it keeps one) without ever
// printing it: psql reads the statement from stdin.
const RECONCILE_PASSWORD = `
import configparser, glob, os, subprocess, sys, yaml
port, user = sys.argv[1], sys.argv[2]
pw = None
if os.path.exists('/etc/lava-server/instance.conf'):
    c = configparser.ConfigParser(); c.read_string('[i]\\n' + open('/etc/lava-server/instance.conf').read())
    pw = c['i'].get('LAVA_DB_PASSWORD')
for f in ['/etc/lava-server/settings.conf', '/etc/lava-server/settings.yaml'] + sorted(glob.glob('/etc/lava-server/settings.d/*.yaml')):
    if os.path.exists(f):
        d = ((yaml.safe_load(open(f)) or {}).get('DATABASES') or {}).get('default') or {}
        pw = d.get('PASSWORD', pw)
if not pw:
    print('no database password in the settings: peer authentication, nothing to reconcile'); sys.exit(0)
sql = 'ALTER ROLE "%s" PASSWORD \\'%s\\';' % (user.replace('"', ''), str(pw).replace("'", "''"))
r = subprocess.run(['runuser', '-u', 'postgres', '--', 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-p', port, '-d', 'postgres', '-f', '-'], input=sql, text=True, capture_output=True)
if r.returncode: sys.exit('ALTER ROLE failed: ' + r.stderr.replace(str(pw), '…').strip())
print('password of role %s set from the restored settings' % user)
`;

export function reconcileRolePassword(master: string, db: LavaDatabase): RemoteCommand {
  return remote(master, ['python3', '-c', RECONCILE_PASSWORD, String(db.port), db.user], { sudo: true });
}

// Jobs that were running when the backup was taken can never finish: fail them (RUNNING and CANCELING,
// uppercase flags; `jobs fail` does not stop a lava-run process, but every worker is stopped). Queued ones
// are listed for the operator. Job ids are parsed from "* <time> - <id>@<submitter> - <description>".
const FAIL_RUNNING_JOBS = `
ids() { lava-server manage jobs list --state "$1" | sed -n 's/^\\* .* - \\([0-9]*\\)@.*/\\1/p'; }
for s in RUNNING CANCELING; do for id in $(ids $s); do lava-server manage jobs fail "$id" > /dev/null && echo "failed $id"; done; done
for s in SUBMITTED SCHEDULING SCHEDULED; do for id in $(ids $s); do echo "queued $id $s"; done; done
true`;

export function failRunningJobs(master: string): RemoteCommand {
  return remote(master, ['sh', '-c', FAIL_RUNNING_JOBS], { sudo: true });
}

// Starts services, waits (bounded) until each reports running, then prints the error lines their logs
// gained since the start: "error <service>: <line>".
const START_AND_CHECK = `
n=$(($# / 2)); i=0; for a; do i=$((i+1)); [ $i -le $n ] && svcs="$svcs $a" || logs="$logs $a"; done
set -- $logs; for s in $svcs; do eval "off_$(echo $s | tr - _)=$( [ -f "$1" ] && stat -c %s "$1" || echo 0 )"; shift; done
for s in $svcs; do service "$s" start || exit $?; done
for t in $(seq 1 60); do ok=1; for s in $svcs; do service "$s" status >/dev/null 2>&1 || ok=0; done; [ $ok = 1 ] && break; sleep 0.5; done
[ $ok = 1 ] || { for s in $svcs; do service "$s" status >/dev/null 2>&1 || echo "not running $s"; done; exit 5; }
set -- $logs; for s in $svcs; do off=$(eval echo \\$off_$(echo $s | tr - _)); [ -f "$1" ] && tail -c +$((off + 1)) "$1" | grep -E "ERROR|CRITICAL|Traceback" | head -n 5 | sed "s|^|error $s: |"; shift; done
echo "running $svcs"`;

export function startAndCheck(host: string, services: string[], logs: Record<string, string>): RemoteCommand {
  return remote(host, ['sh', '-c', START_AND_CHECK, 'start', ...services, ...services.map((s) => logs[s] ?? '/dev/null')], { sudo: true });
}

// The holding page: apache2 serves a static "maintenance" page instead of the LAVA site while the
// restore runs (LAVA's doc: keep users out). Needs apache2 on the master, as a Debian LAVA master has.
const HOLDING_PAGE = `
set -e
case "$1" in
up)
  mkdir -p /var/www/runbooks-holding
  echo '<html><body><h1>LAVA is being restored</h1><p>Back soon.</p></body></html>' > /var/www/runbooks-holding/index.html
  printf '%s\\n' '<VirtualHost *:80>' '  DocumentRoot /var/www/runbooks-holding' '  ErrorDocument 503 /index.html' '  RewriteEngine on' '  RewriteCond %{REQUEST_URI} !=/index.html' '  RewriteRule ^ - [R=503,L]' '</VirtualHost>' > /etc/apache2/sites-available/runbooks-holding.conf
  a2enmod -q rewrite; a2dissite -q lava-server; a2ensite -q runbooks-holding; apache2ctl configtest; service apache2 reload; echo "holding page up" ;;
down)
  a2dissite -q runbooks-holding; a2ensite -q lava-server; apache2ctl configtest; service apache2 reload; echo "LAVA site back" ;;
check)
  [ -f /etc/apache2/sites-available/lava-server.conf ] && command -v a2ensite > /dev/null && echo "apache2 present" || { echo "no apache2 with the lava-server site on this master: no holding page possible" >&2; exit 6; } ;;
esac`;

export function holdingPage(master: string, action: 'up' | 'down' | 'check'): RemoteCommand {
  return remote(master, ['sh', '-c', HOLDING_PAGE, 'holding', action], { sudo: true });
}

/** The worker's name as its config gives it (WORKER_NAME="--name X"), else its hostname, as lava-worker does. */
export function workerName(worker: string): RemoteCommand {
  return remote(
    worker,
    [
      'sh',
      '-c',
      'n=$(sed -n "s/^WORKER_NAME=\\"--name \\(.*\\)\\"$/\\1/p" /etc/lava-dispatcher/lava-worker 2>/dev/null | tail -n 1); echo "${n:-$(hostname -f)}"',
    ],
    { sudo: true },
  );
}

/** Waits (bounded, on the host) for the master to show the worker Online: a worker reconnects within seconds. */
export function waitWorkerOnline(master: string, name: string, seconds = 120): RemoteCommand {
  return remote(
    master,
    [
      'sh',
      '-c',
      'for i in $(seq 1 $(($2 * 2))); do lava-server manage workers details "$1" 2>/dev/null | grep -q "^state *: Online$" && { echo "online $1"; exit 0; }; sleep 0.5; done; lava-server manage workers details "$1" | grep "^state" >&2; exit 1',
      'online',
      name,
      String(seconds),
    ],
    { sudo: true },
  );
}

/** Unpacks only the named members of a tar that arrives on stdin (the worker token and config). */
export function receiveTarMembers(host: string, members: string[]): RemoteCommand {
  return remote(host, ['tar', '-C', '/', '-xpf', '-', '--', ...members], { sudo: true });
}

export function fileModes(host: string, paths: string[]): RemoteCommand {
  return remote(host, ['stat', '-c', '%a %U %n', '--', ...paths], { sudo: true });
}

/** "1" when the LAVA database exists (a damaged master may have lost it), as the postgres superuser. */
export function databaseExists(master: string, db: LavaDatabase): RemoteCommand {
  return remote(
    master,
    [
      'runuser',
      '-u',
      'postgres',
      '--',
      'psql',
      '-X',
      '-At',
      '-p',
      String(db.port),
      '-d',
      'postgres',
      '-c',
      `select count(*) from pg_database where datname = '${db.name}'`,
    ],
    {
      sudo: true,
    },
  );
}
