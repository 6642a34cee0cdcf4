// What the LAVA runbooks decide: parsers of what the hosts print and the checks that refuse a backup or a
// restore, as pure functions (table-tested in test/unit/lava.test.ts). Each check returns the reason in
// words an SRE can act on, or undefined when it passes. The rules come from LAVA's admin-backups page
// (seed 000): "DB and package versions must match", "never migrate during a restore", "a backup not
// tested by restoring is not worth having", "all backups checked that the equivalent files exist in each".
import type { BackupEncryption } from '../../activities/store/encryption.js';
import type { VerifiedRecord } from '../../activities/store/signing.js';
import type { LavaDatabase } from './commands.js';

const nonEmptyLines = (text: string): string[] => text.split('\n').filter(Boolean);

/** "name<TAB>value" lines (dpkg-query's answers) as a record. */
export function tabPairs(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [k = '', v = ''] = l.split('\t');
        return [k, v];
      }),
  );
}

/** "table|count" lines (psql -At) as a record; other lines (a state file's header) are ignored. */
export function rowCountsOf(stdout: string): Record<string, number> {
  return Object.fromEntries(
    nonEmptyLines(stdout)
      .filter((l) => l.includes('|'))
      .map((l) => [l.split('|')[0], Number(l.split('|')[1])]),
  );
}

/** presentPaths' answer: which paths exist and which do not. */
export function presence(stdout: string): { present: string[]; absent: string[] } {
  const lines = stdout.trim().split('\n');
  return {
    present: lines.filter((l) => l.startsWith('present ')).map((l) => l.slice(8)),
    absent: lines.filter((l) => l.startsWith('absent ')).map((l) => l.slice(7)),
  };
}

export interface Device {
  hostname: string;
  health: string;
}

/** Hostname and health of every device from `devices list --all --csv`. */
export function healthOf(csv: string): Device[] {
  return csv
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .filter(Boolean)
    .map((l) => {
      // `devices list --csv` writes CRLF line ends (Python's csv module).
      const [hostname = '', , , health = ''] = l.trim().split(',');
      return { hostname, health };
    });
}

/** Devices a job could still land on: anything but Maintenance or Retired. */
export function devicesInService(devices: Device[]): Device[] {
  return devices.filter((d) => !['Maintenance', 'Retired'].includes(d.health));
}

export const deviceList = (devices: Device[]): string => devices.map((d) => `${d.hostname} ${d.health}`).join(', ');

// ---- backups -----------------------------------------------------------------------------------------

/** A plain SQL dump is usually smaller than the database on disk; twice the total leaves room. */
export function storeSpaceProblem(store: string, free: number, sizes: { dbBytes: number; mediaBytes: number }): string | undefined {
  const need = 2 * (sizes.dbBytes + sizes.mediaBytes);
  return free < need ? `${store} has ${free} bytes free, the backup needs about ${need}` : undefined;
}

/** Without its config and token a worker cannot talk to the master: such a backup would be useless. */
export const WORKER_ESSENTIALS = ['etc/lava-dispatcher/lava-worker', 'var/lib/lava/dispatcher/worker/token'];

export function workerFilesProblem(worker: string, present: string[]): string | undefined {
  const missing = WORKER_ESSENTIALS.filter((p) => !present.includes(p));
  return missing.length ? `${worker} has no ${missing.map((p) => `/${p}`).join(' and no ')}` : undefined;
}

export function bundleProblems(problems: string[], what: string): string | undefined {
  return problems.length ? `${what}: ${problems.join('; ')}` : undefined;
}

// ---- verification ------------------------------------------------------------------------------------

export interface Checked {
  problems: string[];
  files: number;
  manifest: { rows?: Record<string, number>; database?: { user: string }; createdAt?: string; encryption?: { tool: string }; dumpFormat?: string };
}
export interface Restored {
  server: string;
  restored: boolean;
  error?: string;
  rows?: Record<string, number | null>;
}
export interface FileSets {
  compared: number;
  differ: number;
  diffs: { bundle: string; missing: string[]; extra: string[] }[];
}

// ---- choosing a bundle: by signature and signed creation time, never by directory name -------------------

/** The bundle a run works on, its signed manifest's sha256, and its sealed siblings (newest signed first). */
export interface Found {
  bundle: string;
  manifestSha256: string;
  createdAt: string;
  siblings: string[];
  /** Bundles that were not candidates, each with why (unsigned, edited, a copy under another name). */
  refused: string[];
  problem?: string;
}

const dirOf = (p: string): string => p.slice(0, p.lastIndexOf('/'));
const newestFirst = (a: VerifiedRecord, b: VerifiedRecord): number => Date.parse(b.createdAt ?? '') - Date.parse(a.createdAt ?? '');

/**
 * `want` "latest": the newest signed creation time among the bundles whose manifest verifies (a bundle
 * copied under a later-sorting name is refused: its manifest names where it was sealed). A bundle name or
 * path: that bundle, refused unless its manifest verifies.
 */
export function chooseBundle(records: VerifiedRecord[], want: string, root: string, host?: string): Found {
  const good = records.filter((r) => !r.problem).sort(newestFirst);
  const refused = records.filter((r) => r.problem).map((r) => r.problem!);
  const wanted = want === 'latest' ? good[0]?.path : host && !want.includes('/') ? `${root}/${host}/${want}` : want;
  const chosen = good.find((r) => r.path === wanted);
  const siblings = chosen ? records.filter((r) => dirOf(r.path) === dirOf(chosen.path)).map((r) => r.path) : [];
  if (chosen) return { bundle: chosen.path, manifestSha256: chosen.sha256!, createdAt: chosen.createdAt!, siblings, refused };
  const why =
    want === 'latest'
      ? `no bundle with a good signature under ${host ? `${root}/${host}` : root}${refused.length ? `: ${refused.join('; ')}` : ''}`
      : (refused.find((p) => p.startsWith(`${wanted}:`)) ?? `no bundle ${wanted} on the store`);
  return { bundle: wanted ?? '', manifestSha256: '', createdAt: '', siblings, refused, problem: `${why}; nothing was changed` };
}

/** Retention: signed bundles beyond the newest `keep` by signed creation time. Unsigned ones are never counted nor removed. */
export function beyondRetention(records: VerifiedRecord[], keep: number): string[] {
  return records
    .filter((r) => !r.problem)
    .sort(newestFirst)
    .slice(keep)
    .map((r) => r.path.slice(r.path.lastIndexOf('/') + 1));
}

/** A master bundle has a dump and row counts to compare; a worker bundle has neither. */
export const hasDump = (c: Checked): boolean => Boolean(c.manifest.database && c.manifest.rows);
/** Bundles before runbookVersion 2 hold a plain-SQL dump: never restored by psql, not even into a scratch server. */
export const hasPlainSql = (c: Checked): boolean => hasDump(c) && c.manifest.dumpFormat !== 'custom';
export const isEncrypted = (c: Checked): boolean => (c.manifest.encryption?.tool ?? 'none') === 'age';

/** Every reason the bundle is not a backup to rely on, by file name. */
export function findings(checked: Checked, restore: Restored | undefined, sets: FileSets): string[] {
  const out = [...checked.problems];
  if (hasPlainSql(checked)) out.push('lava-server.sql is a plain-SQL dump: not restored by psql anywhere (its meta-commands would run); take a new backup');
  const expected = checked.manifest.rows ?? {};
  if (restore && !restore.restored) out.push(`lava-server.dump does not restore into a scratch database: ${restore.error ?? 'unknown error'}`);
  for (const [table, want] of Object.entries(restore?.restored ? expected : {})) {
    const got = restore?.rows?.[table];
    if (got !== want) out.push(`${table}: ${got ?? 'no'} rows restored, the manifest says ${want}`);
  }
  for (const d of sets.diffs) {
    const parts = [d.missing.length ? `lacks ${d.missing.join(', ')}` : '', d.extra.length ? `has extra ${d.extra.join(', ')}` : ''].filter(Boolean);
    out.push(`bundle ${d.bundle} ${parts.join(' and ')} (compared with the tested bundle)`);
  }
  if (sets.differ > sets.diffs.length) out.push(`… and ${sets.differ - sets.diffs.length} more bundles with a different set of files`);
  return out;
}

// ---- restores ----------------------------------------------------------------------------------------

export interface MasterManifest {
  versions: Record<string, string>;
  base: string[];
  database: LavaDatabase;
  rows: Record<string, number>;
  encryption?: BackupEncryption;
  plaintext?: Record<string, string>;
  files: Record<string, { size: number; sha256: string }>;
  createdAt: string;
}

/** The files a master restore needs from the bundle. */
export const NEEDED = ['lava-server.dump', 'configuration.tar', 'job-output.tar'];

export function masterBundleProblem(m: MasterManifest): string | undefined {
  const has = (f: string): boolean => Boolean(m.files[f] || m.files[`${f}.age`]);
  if (!has('lava-server.dump') && has('lava-server.sql')) {
    return (
      "the bundle holds a plain-SQL dump (lava-server.sql, made before dumps were in PostgreSQL's custom format): " +
      'restoring it means running psql on a file whose meta-commands (\\!) run shell commands as postgres; refused. ' +
      'Take a new backup, or restore it by hand after reading it'
    );
  }
  return NEEDED.every(has) ? undefined : `the bundle lacks one of ${NEEDED.join(', ')}`;
}

/** The sha256 a fetched (decrypted) file must have: the plaintext's, recorded by the backup. */
export const expectedSha = (m: MasterManifest, f: string): string | undefined => m.plaintext?.[f] ?? m.files[f]?.sha256;

/** Only a local PostgreSQL (socket, `runuser -u postgres`) can be replaced by this runbook. */
export const LOCAL_DB_HOSTS = ['localhost', '127.0.0.1', '::1', ''];
const SQL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function databaseProblem(master: string, d: LavaDatabase): string | undefined {
  if (!LOCAL_DB_HOSTS.includes(d.host)) return `the LAVA database is on ${d.host}, not on ${master}: this runbook replaces a local PostgreSQL only`;
  if (!SQL_NAME.test(d.name) || !SQL_NAME.test(d.user)) return `unexpected database name or user: ${d.name} / ${d.user}`;
  return undefined;
}

export interface Installed {
  relation: string;
  version: string;
}

/** compareInstalled's answer: "newer|equal|older|missing <version>". */
export function installedOf(stdout: string): Installed {
  const [relation = '', version = ''] = stdout.trim().split(' ');
  return { relation, version };
}

/**
 * The seed: database and package versions must match. A newer lava-server would migrate the restored
 * database. An older one is refused too: `showmigrations --plan` lists only the migrations the installed
 * code knows, so a dump made by newer code passes every migration check and lands on code that does not
 * know its schema.
 */
export function masterVersionProblem(master: string, installed: Installed, want: string | undefined): string | undefined {
  if (installed.relation === 'missing') return `lava-server is not installed on ${master}: install exactly ${want} (its .deb is in the bundle's packages.tar)`;
  if (installed.relation === 'newer')
    return `installed lava-server ${installed.version} is newer than the bundle's ${want}: install ${want} from the bundle's packages.tar first (a newer package would migrate the restored database)`;
  if (installed.relation === 'older')
    return `the bundle records lava-server ${want}, newer than the installed ${installed.version} on ${master}: the migration check cannot see a schema the installed code does not know; install ${want} from the bundle's packages.tar (apt install ./lava-server_${want}_all.deb) and run the restore again`;
  return undefined;
}

/** `package<TAB>version` lines (package-versions.sh) as a map. */
export function versionsOf(lines: string[]): Record<string, string> {
  return Object.fromEntries(lines.map((l) => l.split('\t')).filter((f) => f.length >= 2 && f[0]) as [string, string][]);
}

/** The packages besides lava-server the source says decide whether a restore works: Django runs the migrations, PostgreSQL holds the dump. */
const COMPANIONS = (p: string): boolean => p === 'python3-django' || p.startsWith('postgresql');

/** python3-django and postgresql*, bundle against installed, for the maintenance-window gate; a difference is marked. */
export function companionVersions(installed: Record<string, string>, bundle: Record<string, string>): string[] {
  const names = [...new Set([...Object.keys(bundle), ...Object.keys(installed)].filter(COMPANIONS))].sort();
  return names.map((p) => {
    const [b, h] = [bundle[p] ?? 'not recorded', installed[p] ?? 'not installed'];
    return `${p}: bundle ${b}, installed ${h}${b === h ? '' : ' (DIFFERS)'}`;
  });
}

const debianMajor = (lines: string[]): string => (lines.find((l) => l.startsWith('debian_version ')) ?? '').split(' ')[1]?.split('.')[0] ?? '?';
const backport = (v: string | undefined): boolean => Boolean(v?.includes('~bpo'));

/** Same Debian release, and lava-server from backports on both or on neither. */
export function baseSystemProblem(master: string, here: string[], m: MasterManifest, installed: string): string | undefined {
  const [now, then] = [debianMajor(here), debianMajor(m.base)];
  if (now !== then) return `${master} runs Debian ${now}, the bundle was taken on Debian ${then}`;
  const want = m.versions['lava-server'];
  if (backport(installed) !== backport(want)) return `backports differ: installed lava-server ${installed}, bundle ${want}`;
  return undefined;
}

export function masterSpaceProblem(master: string, free: number, m: MasterManifest): string | undefined {
  const need = 2 * Object.values(m.files).reduce((a, f) => a + f.size, 0);
  return free < need ? `${master} has ${free} bytes free in /var/tmp, the restore needs about ${need}` : undefined;
}

export function stillRunning(states: string[]): string | undefined {
  const running = states.filter((l) => l.startsWith('running '));
  return running.length ? `still running: ${running.map((l) => l.slice(8)).join(', ')}` : undefined;
}

/** `sha256sum` lines against the manifest: the files that differ. */
export function fetchedProblem(sums: string[], m: MasterManifest): string | undefined {
  const got = Object.fromEntries(sums.map((l) => [l.split(/\s+/)[1], l.split(/\s+/)[0]]));
  const bad = NEEDED.filter((f) => got[f] !== expectedSha(m, f));
  return bad.length ? `fetched files differ from the bundle's: ${bad.join(', ')}` : undefined;
}

export function rowsProblem(rows: Record<string, number>, want: Record<string, number>): string | undefined {
  const off = Object.keys(want).filter((t) => rows[t] !== want[t]);
  return off.length ? `row counts after the restore differ from the manifest: ${off.map((t) => `${t} ${rows[t]} ≠ ${want[t]}`).join(', ')}` : undefined;
}

/** `showmigrations --plan`: "[ ]" marks a migration not applied. */
export function pendingMigrations(lines: string[]): string[] {
  return lines.filter((l) => l.trimStart().startsWith('[ ]')).map((l) => l.trim().replace(/^\[ \]\s*/, ''));
}

export function migrationProblem(pending: string[]): string | undefined {
  return pending.length
    ? `${pending.length} migration(s) not applied (${pending.slice(0, 5).join(', ')}): the database does not match the installed lava-server. Stop: never run migrate or makemigrations during a restore. Install the bundle's exact lava-server version, restore again, or abort.`
    : undefined;
}

export function logErrors(lines: string[], where: string): string | undefined {
  const errors = lines.filter((l) => l.startsWith('error '));
  return errors.length ? `errors in ${where} since the start: ${errors.join(' | ')}` : undefined;
}

export interface Jobs {
  failed: string[];
  queued: string[];
}

/** What happens to queued jobs before the scheduler starts: SCHEDULING/SCHEDULED always fail (they hold a device reservation from before the backup); SUBMITTED ones on `cancel`. */
export function queuedStatesToFail(queuedJobs: 'cancel' | 'hold'): string[] {
  return queuedJobs === 'cancel' ? ['SUBMITTED', 'SCHEDULING', 'SCHEDULED'] : ['SCHEDULING', 'SCHEDULED'];
}

/** The queued jobs ("<id> <STATE>") that `states` will fail. */
export function queuedToFail(queued: string[], states: string[]): string[] {
  return queued.filter((q) => states.includes(q.split(' ')[1] ?? ''));
}

export function jobsOf(lines: string[]): Jobs {
  return {
    failed: lines.filter((l) => l.startsWith('failed ')).map((l) => l.slice(7)),
    queued: lines.filter((l) => l.startsWith('queued ')).map((l) => l.slice(7)),
  };
}

// ---- worker restore ----------------------------------------------------------------------------------

export const TOKEN = 'var/lib/lava/dispatcher/worker/token';
export const WORKER_CONFIG = 'etc/lava-dispatcher/lava-worker';

export interface WorkerManifest {
  versions: Record<string, string>;
  encryption?: { tool: string };
  files: Record<string, unknown>;
  paths?: { present: string[] };
}

export function workerBundleProblem(m: WorkerManifest): string | undefined {
  const present = m.paths?.present ?? [];
  const missing = [TOKEN, WORKER_CONFIG].filter((p) => !present.includes(p));
  return missing.length ? `the bundle has no ${missing.join(' and no ')}` : undefined;
}

/** A worker restore wants exactly the lava-dispatcher the bundle recorded. */
export function dispatcherVersionProblem(worker: string, installed: Installed, want: string | undefined): string | undefined {
  return installed.relation === 'equal'
    ? undefined
    : `lava-dispatcher on ${worker} is ${installed.version}, the bundle recorded ${want}: install that version first`;
}
