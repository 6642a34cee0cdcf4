// lavaMasterRestore: LAVA's "Restoring a master from a backup", whose steps "must be done in order or data
// loss is likely". Read-only preflight; gate maintenance-window; check --deploy; stop every service and
// prove it; fetch and check the bundle's files; gate replace-database (the current database is dumped to
// the store first); replace it once; check migrations and NEVER migrate; every device to Maintenance and
// proven; configuration, DB role password, job output; fail the jobs that were running; start the
// background services and read their logs; gate reopen before the web UI comes back.
import { z } from 'zod';
import type { BackupEncryption } from '../../activities/store/encryption.js';
import { bundleStamp, makePrivateDir, readManifest, receiveFile, sendFile } from './backup-store.js';
import { describeCommand, remote, stdoutOf, type CommandResult, type RemoteCommand } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { baseSystem, readDatabaseSettings, type LavaDatabase } from './commands.js';
import { LAVA_BUNDLE_ROOT } from './master-backup.js';
import {
  compareInstalled,
  databaseExists,
  devicesCsv,
  devicesWithHealth,
  dumpCurrentDatabase,
  extractTar,
  failRunningJobs,
  freeBytesAt,
  healthOf,
  holdingPage,
  LAVA_BACKGROUND,
  LAVA_LOGS,
  LAVA_SERVICES,
  lavaManage,
  LOCAL_DB_HOSTS,
  receiveForRestore,
  reconcileRolePassword,
  replaceDatabase,
  RESTORE_ROOT,
  serviceAll,
  serviceStates,
  sha256Files,
  showMigrations,
  startAndCheck,
} from './restore-commands.js';
import { encryptionTransform, findCheckedBundle, readEncryption } from './bundle-steps.js';
import { call, gate, runbook, step, type RunContext } from '../engine/runbook.js';

export const LavaMasterRestoreInput = () =>
  z.strictObject({
    master: hostName(),
    store: hostName(),
    /** "latest" (this master's newest sealed bundle) or a bundle name such as 20261122T020000Z. */
    bundle: z.string().regex(/^(latest|[0-9]{8}T[0-9]{6}Z(-[a-z0-9-]+)?)$/, '"latest" or a bundle name such as 20261122T020000Z[-label]'),
    /** Swap the apache site for a static holding page while the master is restored (needs apache2 on the master). */
    holdingPage: z.boolean().default(false),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof LavaMasterRestoreInput>>;
type Ctx = RunContext<Input>;

interface Manifest {
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
const NEEDED = ['lava-server.sql', 'configuration.tar', 'job-output.tar'];
const PRE_RESTORE_ROOT = 'backups/lava-pre-restore';

const lines = (r: CommandResult[]): string[] => stdoutOf(r).split('\n').filter(Boolean);
const found = (ctx: Ctx): string => ctx.get<{ bundle: string }>('found').bundle;
const manifest = (ctx: Ctx): Manifest => ctx.get<Manifest>('manifest');
const db = (ctx: Ctx): LavaDatabase => ctx.get<LavaDatabase>('database');
const encrypted = (ctx: Ctx): boolean => manifest(ctx).encryption?.tool === 'age';
/** This run's private directory on the master; workflow ids may hold characters a path should not. */
const runDir = (ctx: Ctx): string => `${RESTORE_ROOT}/${ctx.workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}`;
const stamp = (ctx: Ctx): string => bundleStamp(ctx.startedAt);
/** The sha256 a fetched (decrypted) file must have: the plaintext's, recorded by the backup. */
const expectedSha = (m: Manifest, f: string): string | undefined => m.plaintext?.[f] ?? m.files[f]?.sha256;
const storedName = (ctx: Ctx, f: string): string => (encrypted(ctx) ? `${f}.age` : f);

function fetch(file: string) {
  const name = `fetch ${file}`;
  const from = (ctx: Ctx): RemoteCommand => sendFile(ctx.input.store, `${found(ctx)}/${storedName(ctx, file)}`);
  return call<Input>(
    name,
    'pipeCommands',
    (ctx) => ({
      from: from(ctx),
      to: receiveForRestore(ctx.input.master, runDir(ctx), file),
      step: name,
      transform: encrypted(ctx) ? { decrypt: true } : undefined,
    }),
    (ctx) => [
      `${describeCommand(from(ctx))}${encrypted(ctx) ? ' | worker$ age --decrypt' : ''} | ${describeCommand(receiveForRestore(ctx.input.master, runDir(ctx), file))}`,
    ],
    { idempotent: true, as: name, timeout: '6 hours' },
  );
}

export const lavaMasterRestore = runbook({
  name: 'lavaMasterRestore',
  input: LavaMasterRestoreInput,
  hosts: (i) => [i.master, i.store],
  leases: (i) => [i.master, i.store],
  steps: (i) => [
    // ---- preflight: read-only, refuses before any change ------------------------------------------
    ...findCheckedBundle<Input>(i.store, LAVA_BUNDLE_ROOT, i.bundle, i.master),
    step(
      'read the manifest',
      (ctx) => readManifest(i.store, found(ctx), ['versions', 'base', 'database', 'rows', 'encryption', 'plaintext', 'files', 'createdAt']),
      {
        idempotent: true,
        readOnly: true,
        as: 'manifest',
        parse: (r) => JSON.parse(stdoutOf(r)),
        verdict: true,
        expect: (m) =>
          NEEDED.every((f) => (m as Manifest).files[f] || (m as Manifest).files[`${f}.age`]) ? undefined : `the bundle lacks one of ${NEEDED.join(', ')}`,
      },
    ),
    step('read database settings', () => readDatabaseSettings(i.master), {
      idempotent: true,
      readOnly: true,
      as: 'database',
      parse: (r) => JSON.parse(stdoutOf(r)),
      verdict: true,
      expect: (v) => {
        const d = v as LavaDatabase;
        if (!LOCAL_DB_HOSTS.includes(d.host)) return `the LAVA database is on ${d.host}, not on ${i.master}: this runbook replaces a local PostgreSQL only`;
        if (!/^[a-z_][a-z0-9_]{0,62}$/.test(d.name) || !/^[a-z_][a-z0-9_]{0,62}$/.test(d.user))
          return `unexpected database name or user: ${d.name} / ${d.user}`;
        return undefined;
      },
    }),
    step('look for the current database', (ctx) => databaseExists(i.master, db(ctx)), {
      idempotent: true,
      readOnly: true,
      as: 'database exists',
      parse: (r) => stdoutOf(r).trim() === '1',
    }),
    step('compare the lava-server version', (ctx) => compareInstalled(i.master, 'lava-server', manifest(ctx).versions['lava-server'] ?? '0'), {
      idempotent: true,
      readOnly: true,
      as: 'installed',
      parse: (r) => {
        const [relation = '', version = ''] = stdoutOf(r).trim().split(' ');
        return { relation, version };
      },
      verdict: true,
      // The seed: database and package versions must match. An older package is allowed (the migration
      // check will stop the run if the schema is newer than the code); a newer one never.
      expect: (v, ctx) => {
        const { relation, version } = v as { relation: string; version: string };
        const want = manifest(ctx).versions['lava-server'];
        if (relation === 'missing') return `lava-server is not installed on ${i.master}: install exactly ${want} (its .deb is in the bundle's packages.tar)`;
        if (relation === 'newer')
          return `installed lava-server ${version} is newer than the bundle's ${want}: install ${want} from the bundle's packages.tar first (a newer package would migrate the restored database)`;
        return undefined;
      },
    }),
    step('compare the base system', () => baseSystem(i.master), {
      idempotent: true,
      readOnly: true,
      as: 'base',
      parse: (r) => stdoutOf(r).trim().split('\n'),
      verdict: true,
      expect: (v, ctx) => {
        const major = (lines: string[]): string => (lines.find((l) => l.startsWith('debian_version ')) ?? '').split(' ')[1]?.split('.')[0] ?? '?';
        const here = major(v as string[]);
        const there = major(manifest(ctx).base);
        if (here !== there) return `${i.master} runs Debian ${here}, the bundle was taken on Debian ${there}`;
        const bpo = (s: string | undefined): boolean => Boolean(s?.includes('~bpo'));
        const installed = ctx.get<{ version: string }>('installed').version;
        if (bpo(installed) !== bpo(manifest(ctx).versions['lava-server']))
          return `backports differ: installed lava-server ${installed}, bundle ${manifest(ctx).versions['lava-server']}`;
        return undefined;
      },
    }),
    step('check free space on the master', () => freeBytesAt(i.master, '/var/tmp'), {
      idempotent: true,
      readOnly: true,
      parse: (r) => Number(stdoutOf(r).trim()),
      expect: (free, ctx) => {
        const need = 2 * Object.values(manifest(ctx).files).reduce((a, f) => a + f.size, 0);
        return (free as number) < need ? `${i.master} has ${free} bytes free in /var/tmp, the restore needs about ${need}` : undefined;
      },
    }),
    readEncryption<Input>(),
    i.holdingPage && step('check a holding page is possible', () => holdingPage(i.master, 'check'), { idempotent: true, readOnly: true }),

    gate('maintenance-window', (ctx) => [
      `restore ${found(ctx)} (taken ${manifest(ctx).createdAt}, lava-server ${manifest(ctx).versions['lava-server']}) onto ${i.master}`,
      `installed lava-server ${ctx.get<{ relation: string; version: string }>('installed').version} (${ctx.get<{ relation: string }>('installed').relation} than the bundle's)`,
      'LAVA will be down until the reopen gate.',
    ]),
    i.holdingPage && step('put up the holding page', () => holdingPage(i.master, 'up'), { idempotent: true }),
    // LAVA's deployment checks need the database and running daemons: on a master that lost its database
    // this one cannot pass and is skipped; the final check below then is the only one.
    step('check --deploy', () => lavaManage(i.master, ['check', '--deploy']), {
      idempotent: true,
      readOnly: true,
      when: (ctx) => ctx.get<boolean>('database exists'),
    }),
    step('stop the LAVA services', () => serviceAll(i.master, 'stop', LAVA_SERVICES), { idempotent: true }),
    step('prove the services are stopped', () => serviceStates(i.master, LAVA_SERVICES), {
      idempotent: true,
      readOnly: true,
      parse: lines,
      expect: (v) => {
        const running = (v as string[]).filter((l) => l.startsWith('running '));
        return running.length ? `still running: ${running.map((l) => l.slice(8)).join(', ')}` : undefined;
      },
    }),
    ...NEEDED.map(fetch),
    step('check the fetched files', (ctx) => sha256Files(i.master, runDir(ctx), NEEDED), {
      idempotent: true,
      readOnly: true,
      parse: lines,
      expect: (v, ctx) => {
        const got = Object.fromEntries((v as string[]).map((l) => [l.split(/\s+/)[1], l.split(/\s+/)[0]]));
        const bad = NEEDED.filter((f) => got[f] !== expectedSha(manifest(ctx), f));
        return bad.length ? `fetched files differ from the bundle's: ${bad.join(', ')}` : undefined;
      },
    }),

    gate('replace-database', (ctx) => [
      `DROP and re-create database ${db(ctx).name} on ${i.master}, then restore ${found(ctx)}/lava-server.sql`,
      `the current database is dumped first to ${i.store}:${PRE_RESTORE_ROOT}/${i.master}/${stamp(ctx)}.sql`,
    ]),
    step('make the pre-restore directory', () => makePrivateDir(i.store, `${PRE_RESTORE_ROOT}/${i.master}`), { idempotent: true }),
    call<Input>(
      'dump the current database to the store',
      'pipeCommands',
      (ctx) => ({
        from: dumpCurrentDatabase(i.master, db(ctx)),
        to: receiveFile(i.store, `${PRE_RESTORE_ROOT}/${i.master}/${stamp(ctx)}.sql${ctx.get<BackupEncryption>('encryption').tool === 'age' ? '.age' : ''}`),
        step: 'dump the current database to the store',
        transform: encryptionTransform(ctx.get<BackupEncryption>('encryption')),
      }),
      (ctx) => [`${describeCommand(dumpCurrentDatabase(i.master, db(ctx)))} | ${i.store}$ cat > ${PRE_RESTORE_ROOT}/${i.master}/${stamp(ctx)}.sql`],
      { idempotent: true, as: 'pre-restore dump', timeout: '6 hours' },
    ),
    step('replace the database', (ctx) => replaceDatabase(i.master, runDir(ctx), db(ctx), Object.keys(manifest(ctx).rows)), {
      // Once: the host-side run key re-attaches after a worker crash, and the state file makes a re-run
      // after a host crash report the restore instead of dropping the restored database again.
      idempotent: false,
      danger: true,
      timeout: '6 hours',
      as: 'restored rows',
      parse: (r) =>
        Object.fromEntries(
          lines(r)
            .filter((l) => l.includes('|'))
            .map((l) => [l.split('|')[0], Number(l.split('|')[1])]),
        ),
      expect: (rows, ctx) => {
        const want = manifest(ctx).rows;
        const off = Object.keys(want).filter((t) => (rows as Record<string, number>)[t] !== want[t]);
        return off.length
          ? `row counts after the restore differ from the manifest: ${off.map((t) => `${t} ${(rows as Record<string, number>)[t]} ≠ ${want[t]}`).join(', ')}`
          : undefined;
      },
    }),
    step('check migrations (never migrate)', () => showMigrations(i.master), {
      idempotent: true,
      readOnly: true,
      parse: (r) =>
        lines(r)
          .filter((l) => l.trimStart().startsWith('[ ]'))
          .map((l) => l.trim().replace(/^\[ \]\s*/, '')),
      noSkip: 'the restored database does not match the installed lava-server; nothing may change it further',
      expect: (pending) =>
        (pending as string[]).length
          ? `${(pending as string[]).length} migration(s) not applied (${(pending as string[]).slice(0, 5).join(', ')}): the database does not match the installed lava-server. Stop: never run migrate or makemigrations during a restore. Install the bundle's exact lava-server version, restore again, or abort.`
          : undefined,
    }),
    step('put every device into maintenance', () => lavaManage(i.master, ['maintenance', '--force']), { idempotent: true }),
    step('prove no device is Good, Looping or Unknown', () => devicesWithHealth(i.master, ['GOOD', 'LOOPING', 'UNKNOWN']), {
      idempotent: true,
      readOnly: true,
      parse: lines,
      expect: (v) => ((v as string[]).length ? `devices not in maintenance: ${(v as string[]).join('; ')}` : undefined),
    }),
    step('restore the configuration', (ctx) => extractTar(i.master, `${runDir(ctx)}/configuration.tar`), { idempotent: true, danger: true }),
    step('reconcile the database role password', (ctx) => reconcileRolePassword(i.master, db(ctx)), { idempotent: true }),
    step('restore the job output files', (ctx) => extractTar(i.master, `${runDir(ctx)}/job-output.tar`), { idempotent: true }),
    step('fail the jobs that were running', () => failRunningJobs(i.master), {
      idempotent: true,
      as: 'jobs',
      parse: (r) => ({
        failed: lines(r)
          .filter((l) => l.startsWith('failed '))
          .map((l) => l.slice(7)),
        queued: lines(r)
          .filter((l) => l.startsWith('queued '))
          .map((l) => l.slice(7)),
      }),
    }),
    step('start scheduler, publisher and worker', () => startAndCheck(i.master, LAVA_BACKGROUND, LAVA_LOGS), {
      idempotent: true,
      parse: lines,
      expect: (v) => {
        const errors = (v as string[]).filter((l) => l.startsWith('error '));
        return errors.length ? `errors in the logs since the start: ${errors.join(' | ')}` : undefined;
      },
    }),
    step('check every device is Maintenance or Retired', () => devicesCsv(i.master), {
      idempotent: true,
      readOnly: true,
      as: 'devices',
      parse: (r) => healthOf(stdoutOf(r)),
      expect: (v) => {
        const bad = (v as { hostname: string; health: string }[]).filter((d) => !['Maintenance', 'Retired'].includes(d.health));
        return bad.length ? `devices not in Maintenance or Retired: ${bad.map((d) => `${d.hostname} ${d.health}`).join(', ')}` : undefined;
      },
    }),

    gate('reopen', (ctx) => [
      `devices: ${ctx
        .get<{ hostname: string; health: string }[]>('devices')
        .map((d) => `${d.hostname} ${d.health}`)
        .join(', ')}`,
      `failed jobs: ${ctx.get<{ failed: string[] }>('jobs').failed.join(', ') || 'none'}; queued: ${ctx.get<{ queued: string[] }>('jobs').queued.join(', ') || 'none'}`,
    ]),
    step('start the web UI', () => [serviceAll(i.master, 'start', ['lava-server-gunicorn']), serviceStates(i.master, ['lava-server-gunicorn'])], {
      idempotent: true,
      parse: (r) => lines([r[r.length - 1]!]),
      expect: (v) => ((v as string[]).includes('running lava-server-gunicorn') ? undefined : 'lava-server-gunicorn did not start'),
    }),
    step('check --deploy on the restored master', () => lavaManage(i.master, ['check', '--deploy']), { idempotent: true, readOnly: true }),
    i.holdingPage && step('take down the holding page', () => holdingPage(i.master, 'down'), { idempotent: true }),
    step('remove the fetched files', (ctx) => remote(i.master, ['rm', '-rf', '--', runDir(ctx)], { sudo: true }), { idempotent: true }),
  ],
  // The fetched files hold the database: never left behind. Services stay as they are: a half-restored
  // master needs a human to look at it, not an automatic restart.
  cleanup: (i) => [step('remove the fetched files', (ctx) => remote(i.master, ['rm', '-rf', '--', runDir(ctx)], { sudo: true }), { idempotent: true })],
  output: (ctx) => ({
    bundle: found(ctx),
    takenAt: manifest(ctx).createdAt,
    versions: { bundle: manifest(ctx).versions['lava-server'], installed: ctx.get<{ version: string }>('installed').version },
    rows: ctx.get('restored rows'),
    devices: ctx.get('devices'),
    failedJobs: ctx.get<{ failed: string[] }>('jobs').failed,
    queuedJobs: ctx.get<{ queued: string[] }>('jobs').queued,
    preRestoreDump: `${PRE_RESTORE_ROOT}/${ctx.input.master}/${stamp(ctx)}.sql`,
    nextSteps: [
      'run health checks: lava-server manage devices update --health UNKNOWN <hostname> (hostname positional) once its worker is online',
      'restore each worker with lavaWorkerRestore, then check it is online',
      'decide what to do with the queued jobs listed above',
    ],
  }),
});
