// lavaMasterRestore: LAVA's "Restoring a master from a backup", whose steps "must be done in order or data
// loss is likely". Read-only preflight; gate maintenance-window; check --deploy; stop every service and
// prove it; fetch and check the bundle's files; gate replace-database (the current database is dumped to
// the store first); replace it once; check migrations and NEVER migrate; every device to Maintenance and
// proven; configuration, DB role password, job output; fail the jobs that were running; start the
// queued jobs behind gate queued-jobs; start the background services and read their logs; gate workers
// before the web UI starts for the workers (users are kept out by the holding page); wait for every worker
// to be Online and every device to pass its health check; gate reopen before the holding page comes down.
// The source restores workers "whilst the master remains invisible to users".
import { z } from 'zod';
import { remote, stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { change, gate, once, onlyIf, read, runbook, since, type RunContext } from '../engine/runbook.js';
import { bundleStamp, makePrivateDir, readManifest, receiveFile, sendFile } from './backup-store.js';
import { encryptionTransform, findCheckedBundle, isAge, json, lines, readEncryption, stream } from './bundle-steps.js';
import {
  baseSystemProblem,
  companionVersions,
  databaseProblem,
  deviceList,
  devicesInService,
  fetchedProblem,
  healthOf,
  installedOf,
  jobsOf,
  logErrors,
  masterBundleProblem,
  masterSpaceProblem,
  masterVersionProblem,
  migrationProblem,
  NEEDED,
  pendingMigrations,
  queuedStatesToFail,
  queuedToFail,
  rowCountsOf,
  rowsProblem,
  stillRunning,
  versionsOf,
  type MasterManifest,
} from './checks.js';
import { baseSystem, packageVersions, readDatabaseSettings, type LavaDatabase } from './commands.js';
import { LAVA_BUNDLE_ROOT } from './master-backup.js';
import {
  compareInstalled,
  databaseExists,
  devicesCsv,
  devicesWithHealth,
  dumpCurrentDatabase,
  extractTar,
  failQueuedJobs,
  failRunningJobs,
  freeBytesAt,
  healthChecksPassed,
  holdingPage,
  LAVA_BACKGROUND,
  LAVA_LOGS,
  LAVA_SERVICES,
  lavaManage,
  receiveForRestore,
  reconcileRolePassword,
  replaceDatabase,
  RESTORE_ROOT,
  serviceAll,
  serviceStates,
  sha256Files,
  showMigrations,
  startAndCheck,
  workersOnline,
} from './restore-commands.js';

export const LavaMasterRestoreInput = () =>
  z.strictObject({
    master: hostName(),
    store: hostName(),
    /** "latest" (this master's newest sealed bundle) or a bundle name such as 20261122T020000Z. */
    bundle: z.string().regex(/^(latest|[0-9]{8}T[0-9]{6}Z(-[a-z0-9-]+)?)$/, '"latest" or a bundle name such as 20261122T020000Z[-label]'),
    /** Swap the apache site for a static holding page while the master is restored (needs apache2 on the master). */
    holdingPage: z.boolean().default(false),
    /**
     * Jobs queued in the restored database (the source: "cancel test jobs already running and in the queue"):
     * cancel fails them all before the scheduler starts; hold keeps SUBMITTED ones queued (every device is in
     * Maintenance). SCHEDULING/SCHEDULED ones are failed either way: they hold a reservation from before the backup.
     */
    queuedJobs: z.enum(['cancel', 'hold']).default('cancel'),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof LavaMasterRestoreInput>>;
type Ctx = RunContext<Input>;

const PRE_RESTORE_ROOT = 'backups/lava-pre-restore';
const MANIFEST_KEYS = ['versions', 'base', 'database', 'rows', 'encryption', 'plaintext', 'files', 'createdAt'];
/** This run's private directory on the master; workflow ids may hold characters a path should not. */
const runDir = (ctx: RunContext<unknown>): string => `${RESTORE_ROOT}/${ctx.workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}`;
const preRestoreDump = (i: Input, ctx: Ctx): string => `${PRE_RESTORE_ROOT}/${i.master}/${bundleStamp(ctx.startedAt)}.dump`;

export const lavaMasterRestore = runbook({
  name: 'lavaMasterRestore',
  input: LavaMasterRestoreInput,
  hosts: (i) => [i.master, i.store],
  leases: (i) => [i.master, { host: i.store, sharedPath: `${PRE_RESTORE_ROOT}/${i.master}` }],
  procedure: (i) => {
    // ---- preflight: read-only, refuses before any change ------------------------------------------
    const { found, checked } = findCheckedBundle<Input>(i.store, LAVA_BUNDLE_ROOT, i.bundle, i.master);
    const bundle = (ctx: Ctx): string => found.value(ctx).bundle;
    const manifest = read('read the manifest', (ctx: Ctx) => readManifest(i.store, bundle(ctx), found.value(ctx).manifestSha256, MANIFEST_KEYS), {
      parse: json<MasterManifest>(),
      verdict: true,
      expect: masterBundleProblem,
    });
    const m = (ctx: Ctx): MasterManifest => manifest.value(ctx);
    const encrypted = (ctx: Ctx): boolean => m(ctx).encryption?.tool === 'age';
    const database = read('read database settings', () => readDatabaseSettings(i.master), {
      parse: json<LavaDatabase>(),
      verdict: true,
      expect: (d) => databaseProblem(i.master, d),
    });
    const db = (ctx: Ctx): LavaDatabase => database.value(ctx);
    const exists = read('look for the current database', (ctx: Ctx) => databaseExists(i.master, db(ctx)), { parse: (r) => stdoutOf(r).trim() === '1' });
    const installed = read('compare the lava-server version', (ctx: Ctx) => compareInstalled(i.master, 'lava-server', m(ctx).versions['lava-server'] ?? '0'), {
      parse: (r) => installedOf(stdoutOf(r)),
      verdict: true,
      expect: (v, ctx) => masterVersionProblem(i.master, v, m(ctx).versions['lava-server']),
    });
    // Not a verdict: the source says they "can also affect" a restore; the migration check decides.
    const companions = read('compare python3-django and postgresql', () => packageVersions(i.master), { parse: (r) => versionsOf(lines(r)) });
    const encryption = readEncryption<Input>();

    // ---- the files, fetched into this run's directory on the master and checked ---------------------
    const fetch = (file: string) =>
      change(
        `fetch ${file}`,
        (ctx: Ctx) =>
          stream(`fetch ${file}`, {
            from: sendFile(i.store, `${bundle(ctx)}/${encrypted(ctx) ? `${file}.age` : file}`),
            to: receiveForRestore(i.master, runDir(ctx), file),
            transform: encrypted(ctx) ? { decrypt: true } : undefined,
          }),
        { timeout: '6 hours' },
      );

    // Waits up to 15 s for sessions that are closing (the pre-restore dump's backend) before refusing.
    const drains = since<Input>('replace-database-drains-sessions', 'the replacement waits for closing sessions');
    const restoredRows = once(
      'replace the database',
      (ctx: Ctx) => replaceDatabase(i.master, runDir(ctx), db(ctx), Object.keys(m(ctx).rows), drains.holds(ctx)),
      {
        // Once: the host-side run key re-attaches after a worker crash, and the state file makes a re-run
        // after a host crash report the restore instead of dropping the restored database again.
        danger: true,
        timeout: '6 hours',
        parse: (r) => rowCountsOf(stdoutOf(r)),
        expect: (rows, ctx) => rowsProblem(rows, m(ctx).rows),
      },
    );
    const jobs = change('fail the jobs that were running', () => failRunningJobs(i.master), { parse: (r) => jobsOf(lines(r)) });
    const queuedStates = queuedStatesToFail(i.queuedJobs);
    const anyQueued = onlyIf('jobs are queued in the restored database', (ctx: Ctx) => jobs.value(ctx).queued.length > 0);
    const cancelled = change('fail the queued jobs', () => failQueuedJobs(i.master, queuedStates), {
      when: anyQueued,
      parse: (r) => jobsOf(lines(r)).failed,
    });
    const kept = (ctx: Ctx): string[] => jobs.value(ctx).queued.filter((q) => !queuedToFail([q], queuedStates).length);
    // Not checks: each parks until retried (the workers restored, the health checks run) or skipped, and a
    // skip is the recorded override that the reopen gate then shows.
    const workersUp = read('wait for the workers to be online', () => workersOnline(i.master), { parse: lines });
    const healthy = read('check the health checks have passed', () => healthChecksPassed(i.master), { parse: lines });
    const startUi = () =>
      change(
        'start the web UI for the workers',
        () => [serviceAll(i.master, 'start', ['lava-server-gunicorn']), serviceStates(i.master, ['lava-server-gunicorn'])],
        {
          parse: (r) => lines(r.slice(-1)),
          expect: (v) => (v.includes('running lava-server-gunicorn') ? undefined : 'lava-server-gunicorn did not start'),
        },
      );
    const devices = read('check every device is Maintenance or Retired', () => devicesCsv(i.master), {
      parse: (r) => healthOf(stdoutOf(r)),
      expect: (v) => {
        const bad = devicesInService(v);
        return bad.length ? `devices not in Maintenance or Retired: ${deviceList(bad)}` : undefined;
      },
    });
    // The fetched files hold the database: never left behind.
    const removeFetched = () => change('remove the fetched files', (ctx: Ctx) => remote(i.master, ['rm', '-rf', '--', runDir(ctx)], { sudo: true }));

    return {
      steps: [
        found,
        checked,
        manifest,
        database,
        exists,
        installed,
        read('compare the base system', () => baseSystem(i.master), {
          parse: (r) => stdoutOf(r).trim().split('\n'),
          verdict: true,
          expect: (here, ctx) => baseSystemProblem(i.master, here, m(ctx), installed.value(ctx).version),
        }),
        read('check free space on the master', () => freeBytesAt(i.master, '/var/tmp'), {
          parse: (r) => Number(stdoutOf(r).trim()),
          expect: (free, ctx) => masterSpaceProblem(i.master, free, m(ctx)),
        }),
        companions,
        encryption,
        i.holdingPage && read('check a holding page is possible', () => holdingPage(i.master, 'check')),

        gate('maintenance-window', (ctx: Ctx) => [
          `restore ${bundle(ctx)} (taken ${m(ctx).createdAt}, lava-server ${m(ctx).versions['lava-server']}) onto ${i.master}`,
          `installed lava-server ${installed.value(ctx).version} (${installed.value(ctx).relation} than the bundle's)`,
          ...companionVersions(companions.value(ctx), m(ctx).versions),
          'LAVA will be down until the reopen gate.',
        ]),
        i.holdingPage && change('put up the holding page', () => holdingPage(i.master, 'up')),
        // LAVA's deployment checks need the database and running daemons: on a master that lost its database
        // this one cannot pass and is skipped; the final check below then is the only one.
        read('check --deploy', () => lavaManage(i.master, ['check', '--deploy']), {
          when: onlyIf('the current database exists', (ctx) => exists.value(ctx)),
        }),
        change('stop the LAVA services', () => serviceAll(i.master, 'stop', LAVA_SERVICES)),
        read('prove the services are stopped', () => serviceStates(i.master, LAVA_SERVICES), { parse: lines, expect: stillRunning }),
        ...NEEDED.map(fetch),
        read('check the fetched files', (ctx: Ctx) => sha256Files(i.master, runDir(ctx), NEEDED), {
          parse: lines,
          expect: (sums, ctx) => fetchedProblem(sums, m(ctx)),
        }),

        gate('replace-database', (ctx: Ctx) => [
          `DROP and re-create database ${db(ctx).name} on ${i.master}, then pg_restore ${bundle(ctx)}/lava-server.dump`,
          `the current database is dumped first to ${i.store}:${preRestoreDump(i, ctx)}`,
        ]),
        change('make the pre-restore directory', () => makePrivateDir(i.store, `${PRE_RESTORE_ROOT}/${i.master}`)),
        change(
          'dump the current database to the store',
          (ctx: Ctx) =>
            stream('dump the current database to the store', {
              from: dumpCurrentDatabase(i.master, db(ctx)),
              to: receiveFile(i.store, `${preRestoreDump(i, ctx)}${isAge(encryption.value(ctx)) ? '.age' : ''}`),
              transform: encryptionTransform(encryption.value(ctx)),
            }),
          { timeout: '6 hours' },
        ),
        restoredRows,
        // A check: it can be retried or aborted, never skipped; the restored database must match the code.
        read('check migrations (never migrate)', () => showMigrations(i.master), { parse: (r) => pendingMigrations(lines(r)), expect: migrationProblem }),
        change('put every device into maintenance', () => lavaManage(i.master, ['maintenance', '--force'])),
        read('prove no device is Good, Looping or Unknown', () => devicesWithHealth(i.master, ['GOOD', 'LOOPING', 'UNKNOWN']), {
          parse: lines,
          expect: (v) => (v.length ? `devices not in maintenance: ${v.join('; ')}` : undefined),
        }),
        change('restore the configuration', (ctx: Ctx) => extractTar(i.master, `${runDir(ctx)}/configuration.tar`), { danger: true }),
        change('reconcile the database role password', (ctx: Ctx) => reconcileRolePassword(i.master, db(ctx))),
        change('restore the job output files', (ctx: Ctx) => extractTar(i.master, `${runDir(ctx)}/job-output.tar`)),
        jobs,
        gate(
          'queued-jobs',
          (ctx: Ctx) => [
            `queued in the restored database: ${jobs.value(ctx).queued.join(', ')}`,
            `to fail before the scheduler starts: ${queuedToFail(jobs.value(ctx).queued, queuedStates).join(', ') || 'none'}`,
            `kept queued (queuedJobs: hold; every device is in Maintenance, none dispatches until one is put online): ${kept(ctx).join(', ') || 'none'}`,
          ],
          { when: anyQueued },
        ),
        cancelled,
        change('start scheduler, publisher and worker', () => startAndCheck(i.master, LAVA_BACKGROUND, LAVA_LOGS), {
          parse: lines,
          expect: (v) => logErrors(v, 'the logs'),
        }),
        devices,

        gate('workers', () => [
          'start lava-server-gunicorn: the workers need its API to come online',
          i.holdingPage
            ? 'users still get the holding page until the reopen gate'
            : 'no holding page: keep users and CI out by routing until the reopen gate (the source); only admins may reach the UI',
          'then restore each worker (lavaWorkerRestore), run health checks; this run waits for both',
        ]),
        startUi(),
        workersUp,
        healthy,

        gate('reopen', (ctx: Ctx) => [
          workersUp.valueIfRan(ctx)
            ? `workers: ${workersUp.value(ctx).join(', ') || 'none'}`
            : 'OVERRIDE: the workers were NOT confirmed online (the wait was skipped)',
          healthy.valueIfRan(ctx) ? `devices: ${healthy.value(ctx).join(', ')}` : 'OVERRIDE: the health checks were NOT confirmed (the check was skipped)',
          `failed jobs: ${[...jobs.value(ctx).failed, ...(cancelled.valueIfRan(ctx) ?? [])].join(', ') || 'none'}; still queued: ${(jobs.value(ctx).queued.length ? kept(ctx) : []).join(', ') || 'none'}`,
        ]),
        read('check --deploy on the restored master', () => lavaManage(i.master, ['check', '--deploy'])),
        i.holdingPage && change('take down the holding page', () => holdingPage(i.master, 'down')),
        removeFetched(),
      ],
      // Services stay as they are: a half-restored master needs a human to look at it, not an automatic restart.
      cleanup: [removeFetched()],
      output: (ctx) => ({
        bundle: bundle(ctx),
        takenAt: m(ctx).createdAt,
        versions: {
          bundle: m(ctx).versions['lava-server'],
          installed: installed.value(ctx).version,
          companions: companionVersions(companions.value(ctx), m(ctx).versions),
        },
        rows: restoredRows.value(ctx),
        devices: devices.value(ctx),
        failedJobs: [...jobs.value(ctx).failed, ...(cancelled.valueIfRan(ctx) ?? [])],
        queuedJobs: jobs.value(ctx).queued.length ? kept(ctx) : [],
        workers: workersUp.valueIfRan(ctx) ?? 'not confirmed (skipped)',
        healthChecks: healthy.valueIfRan(ctx) ?? 'not confirmed (skipped)',
        preRestoreDump: preRestoreDump(i, ctx),
        nextSteps: ['decide what to do with the jobs still queued (listed above)'],
      }),
    };
  },
});
