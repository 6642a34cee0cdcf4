// Restore time (RTO, issue 23 point 1), on one LAVA database of BENCH_DB_GIB (default 1.2) GiB in one run:
//  (a) the source page's manual restore: a plain-SQL pg_dump on the store fed single-stream as
//      `ssh store cat dump.sql | ssh master psql` into a fresh database (the dump is made first, not timed);
//  (b) the "replace the database" step of a real lavaMasterRestore through the production worker process
//      (drop, create, pg_restore --exit-on-error --jobs N, row counts), from its history;
//  (c) that whole lavaMasterRestore run, start → completed, its gates approved and its health-check park
//      retried by the lab approver bob with signed verdicts (ssh-keygen -Y sign, as `runbook approve` does);
//  (d) the store → master stream alone: the run's "fetch lava-server.dump" (the worker's ssh2 relay,
//      pipeCommands) against `ssh store cat dump | ssh master cat` of the same file, to /dev/null and to a
//      file as the fetch writes it.
// rtoRatio = (b)/(a), target ≤ 0.5; streamRatio = (d) relay throughput / raw, target ≥ 0.9.
// BENCH_PROFILE=1 (default) then restores the same database on the master in the ways that tell what limits
// (b): psql of a local plain file (a without its two SSH hops), pg_restore -j1 / -jN, the session settings
// a restore could set (synchronous_commit, maintenance_work_mem), an uncompressed (-Z0) custom dump, and
// pre-data+data against post-data (the index builds).
// The bundle restored is made by one lavaMasterBackup (label "rto") of that database, not timed, with
// BENCH_DUMP_COMPRESSION (default|none) as its dumpCompression.
// Prints a table and writes bench/results/restore.json (restore-none.json for a none bundle). Not a test. The lab, server, worker and the grown
// database are bench/lava-bench.ts's, shared with bench/backup.ts.
//
// LAVA is machine-global: `flock /tmp/lava-global.lock npm run bench -- restore`.
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { PipeResult } from '../activities/ssh/pipe.js';
import { signStatement, statementFor } from '../scripts/cli/gates.js';
import { labTrust } from '../scripts/lab-trust.js';
import { loadWorkerConfig } from '../workers/config.js';
import type { InventoryHost } from '../workers/inventory.js';
import type { RunbookView } from '../workflows/engine/messages.js';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { LAVA_TABLES } from '../workflows/lava/commands.js';
import replaceDatabaseScript from '../workflows/lava/scripts/replace-database.sh';
import {
  cpuLine,
  cpuUse,
  GiB,
  MASTER,
  mib,
  openLavaBench,
  PG_PORT,
  psql,
  root,
  runShell,
  sampler,
  settle,
  sq,
  sshArgv,
  sleep,
  stepActivity,
  STORE,
  startWorker,
  stopChild,
  TARGET_GIB,
  type CpuUse,
} from './lava-bench.js';

const METRICS_PORT = 9475;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
const PROFILE_ROUNDS = Math.max(1, Number(process.env.BENCH_PROFILE_ROUNDS ?? 2));
const LABEL = 'rto';
const REPLACE_STEP = 'replace the database';
const FETCH_STEP = 'fetch lava-server.dump';
const PROFILE = process.env.BENCH_PROFILE !== '0';
/** lavaMasterBackup's dumpCompression for the bundle restored: default (zlib) or none. */
const DUMP_COMPRESSION = process.env.BENCH_DUMP_COMPRESSION ?? 'default';
/** Where the bench keeps its own files on the master (dumps for the profile, the raw stream's copy). */
const MASTER_DIR = '/var/tmp/runbooks-bench';
const PLAIN_ON_STORE = 'bench-restore.sql';
const SCRATCH_DB = 'bench_restore_scratch';
const APPROVER = 'bob';

const rate = (bytes: number, sec: number): number => mib(bytes) / sec;

interface Phase {
  seconds: number;
  cpu: CpuUse;
}

/** A verdict or decision of the lab approver bob, signed with his lab key as `runbook approve|decide` does. */
async function signedAsBob(
  client: Client,
  key: string,
  h: WorkflowHandle,
  what: { gate: string } | { decision: 'retry' },
): Promise<{ update: 'approve' | 'decide'; arg: Record<string, unknown> }> {
  const verdict = 'gate' in what ? 'approve' : what.decision;
  const st = await statementFor(client, h.workflowId, what, verdict, APPROVER);
  const proof = signStatement(key, st);
  return 'gate' in what
    ? { update: 'approve', arg: { gate: what.gate, approver: APPROVER, reason: 'bench: restore time', fingerprint: st.fingerprint, proof } }
    : { update: 'decide', arg: { decision: what.decision, operator: APPROVER, reason: 'bench: health checks passed', proof } };
}

async function main(): Promise<void> {
  const load: { start: number[]; end: number[] } = { start: loadavg(), end: [] };
  const bench = await openLavaBench();
  const { lava, grow, inventoryPath, master, store, devPid, client } = bench;
  const onHost = (h: InventoryHost, script: string): string => `${sshArgv(h).map(sq).join(' ')} ${sq(script)}`;
  const onMaster = (script: string) => runShell(onHost(master, script));
  const onStore = (script: string) => runShell(onHost(store, script));
  const asPostgres = (argv: string): string => `sudo -n runuser -u postgres -- ${argv}`;
  const bundleDir = `backups/lava/${MASTER}`;
  const cleanStore = () =>
    onStore(
      `rm -rf ${bundleDir}/*-${LABEL} ${bundleDir}/*-${LABEL}.partial ${bundleDir}/*-${LABEL}.incomplete ${PLAIN_ON_STORE} backups/lava-pre-restore/${MASTER}/*`,
    );
  const dropScratch = (): void => {
    if (psql(`SELECT count(*) FROM pg_database WHERE datname = '${SCRATCH_DB}'`, 'postgres') !== '0')
      psql(`DROP DATABASE ${SCRATCH_DB} WITH (FORCE)`, 'postgres');
  };
  const freshScratch = (): void => {
    dropScratch();
    psql(`CREATE DATABASE ${SCRATCH_DB} OWNER "${lava.dbUser}" ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0`, 'postgres');
  };
  const ballastRows = (db: string): number => Number(psql('SELECT count(*) FROM bench_ballast', db));
  let worker: ChildProcess | undefined;
  try {
    await cleanStore();
    dropScratch();
    const trust = labTrust(join(root, 'trust'));
    const workerLog = join(root, 'worker-restore.log');
    worker = await startWorker(inventoryPath, workerLog, METRICS_PORT, { RUNBOOK_ALLOWED_SIGNERS: trust.allowedSigners });
    const roles = new Map<number, string>([
      [worker.pid!, 'worker'],
      [process.pid, 'bench'],
      ...(devPid === undefined ? [] : [[devPid, 'temporal (bench)'] as [number, string]]),
    ]);
    const mon = sampler(roles, worker.pid!);
    const measured = async (job: () => Promise<unknown>): Promise<Phase> => {
      const from = Date.now();
      const t = performance.now();
      await job();
      const seconds = (performance.now() - t) / 1000;
      await sleep(250); // the sample that covers the end
      return { seconds, cpu: cpuUse(mon.samples, from, Date.now()) };
    };
    const jobs = Math.min(Number((await captured(onHost(master, 'nproc'))).trim()) || 1, 4);
    const rowsBefore = ballastRows(lava.dbName);

    // ---- the bundle to restore and the source page's plain dump, both of this database, not timed ----
    const backup = await client.workflow.start('lavaMasterBackup', {
      taskQueue: loadWorkerConfig().taskQueue,
      workflowId: `bench-rto-backup-${Date.now()}`,
      args: [{ master: MASTER, store: STORE, requestedBy: 'alice', label: LABEL, dumpCompression: DUMP_COMPRESSION }],
    });
    const backedUp = await settle(backup);
    if (backedUp.status !== 'Completed') throw new Error(`lavaMasterBackup ended ${backedUp.status}: ${backedUp.parked?.error ?? backedUp.lastError ?? ''}`);
    const bundleOut = ((await backup.result()) as RunbookResult).output as { bundle: string; database: { bytes: number } };
    const bundle = bundleOut.bundle.split('/').pop()!;
    const dumpBytes = bundleOut.database.bytes;
    console.log(`bench: bundle ${bundle}, lava-server.dump ${(dumpBytes / GiB).toFixed(3)} GiB (dumpCompression ${DUMP_COMPRESSION})`);
    await onStore(`pg_dump -h 127.0.0.1 -p ${PG_PORT} -U ${lava.dbUser} --no-password ${lava.dbName} > ${PLAIN_ON_STORE}`);
    const plainBytes = Number((await captured(onHost(store, `stat -c %s ${PLAIN_ON_STORE}`))).trim());
    console.log(`bench: plain dump on the store ${(plainBytes / GiB).toFixed(3)} GiB`);
    // The source page's restore, as its admin would type it (psql as the database owner, the page's way).
    const sourcePagePipe = `${onHost(store, `cat ${PLAIN_ON_STORE}`)} | ${onHost(master, `sudo -n -u ${lava.dbUser} psql -X -q -v ON_ERROR_STOP=1 -p ${PG_PORT} -d ${SCRATCH_DB} > /dev/null`)}`;

    const dumpOnStore = `${bundleDir}/${bundle}/lava-server.dump`;
    await onMaster(`sudo -n sh -c 'rm -rf ${MASTER_DIR} && mkdir -m 755 ${MASTER_DIR}'`);

    // ---- (a) the source page: ssh store cat dump.sql | ssh master psql, into a fresh database ---------
    const manualRestore = async (): Promise<Phase> => {
      freshScratch();
      const r = await measured(() => runShell(sourcePagePipe));
      const rows = ballastRows(SCRATCH_DB);
      if (rows !== rowsBefore) throw new Error(`the manual restore has ${rows} ballast rows, the database ${rowsBefore}`);
      dropScratch();
      console.log(`bench: (a) ssh store cat dump.sql | ssh master psql: ${r.seconds.toFixed(2)} s; CPU ${cpuLine(r.cpu)}`);
      return r;
    };

    // ---- (d) the raw stream of the bundle's dump, store → master ---------------------------------------
    const rawNull = async (): Promise<Phase> => measured(() => runShell(`${onHost(store, `cat -- ${dumpOnStore}`)} | ${onHost(master, 'cat > /dev/null')}`));
    const rawFile = async (): Promise<Phase> => {
      const r = await measured(() =>
        runShell(`${onHost(store, `cat -- ${dumpOnStore}`)} | ${onHost(master, `sudo -n sh -c 'umask 077 && cat > ${MASTER_DIR}/stream.dump'`)}`),
      );
      await onMaster(`sudo -n rm -f ${MASTER_DIR}/stream.dump`);
      return r;
    };

    // ---- (b), (c): lavaMasterRestore through the production worker, approved by signed verdicts --------
    const restoreRun = async () => {
      const t0 = performance.now();
      const startedAt = Date.now();
      const h = await client.workflow.start('lavaMasterRestore', {
        taskQueue: loadWorkerConfig().taskQueue,
        workflowId: `bench-rto-restore-${Date.now()}`,
        args: [{ master: MASTER, store: STORE, bundle, requestedBy: 'alice' }],
      });
      const waits: { what: string; seconds: number }[] = [];
      let workerRetries = 0;
      for (;;) {
        const v: RunbookView = await settle(h, (x) => Boolean(x.openGate));
        if (v.status === 'Completed') break;
        const seen = performance.now();
        if (v.openGate) {
          const s = await signedAsBob(client, trust.keys.bob!, h, { gate: v.openGate.name });
          await h.executeUpdate(s.update, { args: [s.arg] });
          waits.push({ what: `gate ${v.openGate.name}`, seconds: (performance.now() - seen) / 1000 });
        } else if (v.status === 'Parked' && v.parked?.step === 'wait for the workers to be online' && workerRetries++ < 5) {
          // lava-worker reconnects on its own once the UI is back; the wait is bounded on the host, so ask again.
          await sleep(5000);
          const s = await signedAsBob(client, trust.keys.bob!, h, { decision: 'retry' });
          await h.executeUpdate(s.update, { args: [s.arg] });
          waits.push({ what: 'workers online + retry', seconds: (performance.now() - seen) / 1000 });
        } else if (v.status === 'Parked' && v.parked?.step === 'check the health checks have passed') {
          // The lab's stand-in for the health checks (its qemu devices have no image to boot), as the LAVA tests do.
          for (const d of lava.devices) await onMaster(`sudo -n lava-server manage devices update --health GOOD ${d}`);
          const s = await signedAsBob(client, trust.keys.bob!, h, { decision: 'retry' });
          await h.executeUpdate(s.update, { args: [s.arg] });
          waits.push({ what: 'health checks (stand-in) + retry', seconds: (performance.now() - seen) / 1000 });
        } else {
          await h.terminate('bench: the restore did not complete').catch(() => undefined);
          throw new Error(
            `lavaMasterRestore ended ${v.status}${v.parked ? ` at "${v.parked.step}": ${v.parked.error}` : ''} ${v.lastError ?? ''}; see ${workerLog}`,
          );
        }
        await sleep(200); // the verdict's effect before the next status
      }
      const wholeS = (performance.now() - t0) / 1000;
      const res = (await h.result()) as RunbookResult;
      const replace = await stepActivity<{ durationMs: number; exitCode: number }>(h, 'runCommand', REPLACE_STEP);
      const fetch = await stepActivity<PipeResult>(h, 'pipeCommands', FETCH_STEP);
      const replaceStep = res.steps.find((x) => x.name === REPLACE_STEP);
      const restoredRows = ballastRows(lava.dbName);
      if (restoredRows !== rowsBefore) throw new Error(`the restored database has ${restoredRows} ballast rows, it had ${rowsBefore}`);
      await onStore(`rm -f backups/lava-pre-restore/${MASTER}/*`);
      const run = {
        workflowId: h.workflowId,
        wholeRunSeconds: wholeS,
        approvalWaits: waits,
        approvalWaitSeconds: waits.reduce((x, w) => x + w.seconds, 0),
        replaceStep: {
          seconds: replace.scheduledToCloseS,
          commandSeconds: (replaceStep?.durationMs ?? NaN) / 1000,
          startedToCloseSeconds: replace.startedToCloseS,
          attempt: replace.attempt,
          cpu: cpuUse(mon.samples, replace.startedAt, replace.completedAt),
        },
        fetchStep: {
          bytes: fetch.result.bytes,
          seconds: fetch.result.durationMs / 1000,
          MiBps: rate(fetch.result.bytes, fetch.result.durationMs / 1000),
          cpu: cpuUse(mon.samples, fetch.startedAt, fetch.completedAt),
        },
        steps: res.steps.map((x) => ({ name: x.name, state: x.state, durationMs: x.durationMs })),
        startedAt: new Date(startedAt).toISOString(),
      };
      console.log(
        `bench: (b) "${REPLACE_STEP}" ${run.replaceStep.seconds.toFixed(2)} s (command ${run.replaceStep.commandSeconds.toFixed(2)} s); (c) whole run ${wholeS.toFixed(1)} s; CPU ${cpuLine(run.replaceStep.cpu)}`,
      );
      console.log(`bench: (d) fetch ${run.fetchStep.seconds.toFixed(2)} s, ${run.fetchStep.MiBps.toFixed(0)} MiB/s; CPU ${cpuLine(run.fetchStep.cpu)}`);
      return run;
    };

    // Rounds: manual, stream, runbook, then runbook, stream, manual, ... so that neither side always goes first.
    const manual: Phase[] = [];
    const runs: Awaited<ReturnType<typeof restoreRun>>[] = [];
    const raw = { toNull: [] as Phase[], toFile: [] as Phase[] };
    const stream = async (): Promise<void> => {
      raw.toNull.push(await rawNull());
      raw.toFile.push(await rawFile());
      console.log(`bench: (d) raw stream ${raw.toNull.at(-1)!.seconds.toFixed(2)} s to /dev/null, ${raw.toFile.at(-1)!.seconds.toFixed(2)} s to a file`);
    };
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) {
        manual.push(await manualRestore());
        await stream();
        runs.push(await restoreRun());
      } else {
        runs.push(await restoreRun());
        await stream();
        manual.push(await manualRestore());
      }
    }
    const best = (xs: Phase[]): Phase => xs.reduce((x, y) => (x.seconds <= y.seconds ? x : y));
    const bestRun = runs.reduce((x, y) => (x.replaceStep.seconds <= y.replaceStep.seconds ? x : y));
    const bestFetch = runs.reduce((x, y) => (x.fetchStep.seconds <= y.fetchStep.seconds ? x : y)).fetchStep;
    const rtoRatio = bestRun.replaceStep.seconds / best(manual).seconds;
    const streamRatio = rate(dumpBytes, bestFetch.seconds) / rate(dumpBytes, best(raw.toNull).seconds);
    const streamRatioToFile = rate(dumpBytes, bestFetch.seconds) / rate(dumpBytes, best(raw.toFile).seconds);

    // ---- profile: what limits (b), each variant PROFILE_ROUNDS times in turn, the best counts -------------
    const profile: { what: string; seconds: number; runs: number[]; cpu: CpuUse; bytes?: number }[] = [];
    if (PROFILE) {
      const dumpTo = async (file: string, opts: string): Promise<number> => {
        await onMaster(
          `sudo -n sh -c ${sq(`sudo -n -u ${lava.dbUser} pg_dump ${opts} -h 127.0.0.1 -p ${PG_PORT} --no-password ${lava.dbName} > ${MASTER_DIR}/${file} && chmod 644 ${MASTER_DIR}/${file}`)}`,
        );
        return Number((await captured(onHost(master, `stat -c %s ${MASTER_DIR}/${file}`))).trim());
      };
      const sizes = { plain: await dumpTo('plain.sql', ''), custom: await dumpTo('custom.dump', '-Fc'), customZ0: await dumpTo('custom-z0.dump', '-Fc -Z0') };
      const pgRestore = (opts: string, file: string, env = ''): string =>
        asPostgres(`${env ? `env PGOPTIONS=${sq(env)} ` : ''}pg_restore --exit-on-error ${opts} -p ${PG_PORT} -d ${SCRATCH_DB} ${MASTER_DIR}/${file}`);
      const fast = '-c synchronous_commit=off -c maintenance_work_mem=512MB';
      const scriptDir = `${MASTER_DIR}/step`;
      await onMaster(`sudo -n sh -c 'mkdir -m 700 ${scriptDir} && ln ${MASTER_DIR}/custom.dump ${scriptDir}/lava-server.dump'`);
      // Each variant: what it does (timed) and what has to be there first (not timed).
      const variants: { what: string; bytes?: number; prepare: () => Promise<void>; run: () => Promise<unknown> }[] = [
        {
          // (a) again, so that every figure of the profile has its reference under the same load.
          what: '(a) ssh store cat dump.sql | ssh master psql, again',
          bytes: plainBytes,
          prepare: async () => freshScratch(),
          run: () => runShell(sourcePagePipe),
        },
        {
          what: 'psql -f of a local plain dump (a without its SSH hops)',
          bytes: sizes.plain,
          prepare: async () => freshScratch(),
          run: () => onMaster(asPostgres(`psql -X -q -v ON_ERROR_STOP=1 -p ${PG_PORT} -d ${SCRATCH_DB} -f ${MASTER_DIR}/plain.sql > /dev/null`)),
        },
        {
          what: `pg_restore -j${jobs}, default compression (the step's command)`,
          bytes: sizes.custom,
          prepare: async () => freshScratch(),
          run: () => onMaster(pgRestore(`--jobs ${jobs}`, 'custom.dump')),
        },
        {
          what: 'pg_restore -j1, default compression',
          bytes: sizes.custom,
          prepare: async () => freshScratch(),
          run: () => onMaster(pgRestore('--jobs 1', 'custom.dump')),
        },
        {
          what: `pg_restore -j${jobs}, default compression, PGOPTIONS ${fast}`,
          bytes: sizes.custom,
          prepare: async () => freshScratch(),
          run: () => onMaster(pgRestore(`--jobs ${jobs}`, 'custom.dump', fast)),
        },
        {
          what: `pg_restore -j${jobs}, -Z0 dump`,
          bytes: sizes.customZ0,
          prepare: async () => freshScratch(),
          run: () => onMaster(pgRestore(`--jobs ${jobs}`, 'custom-z0.dump')),
        },
        {
          what: `pg_restore -j${jobs}, -Z0 dump, PGOPTIONS ${fast}`,
          bytes: sizes.customZ0,
          prepare: async () => freshScratch(),
          run: () => onMaster(pgRestore(`--jobs ${jobs}`, 'custom-z0.dump', fast)),
        },
        {
          // The step's own script by hand (no run key, no worker) on a scratch database as full as lavaserver
          // is when the step runs: drop, create, pg_restore, row counts.
          what: 'replace-database.sh by hand (drop a full database, create, pg_restore, counts)',
          bytes: sizes.custom,
          prepare: async () => {
            freshScratch();
            await onMaster(pgRestore(`--jobs ${jobs}`, 'custom.dump'));
            await onMaster(`sudo -n sh -c 'rm -f ${scriptDir}/database-restored'`);
          },
          run: async () => {
            await onMaster(
              `sudo -n sh -c ${sq(replaceDatabaseScript)} replace-db ${scriptDir} ${PG_PORT} ${SCRATCH_DB} ${lava.dbUser} ${LAVA_TABLES.join(' ')} > /dev/null`,
            );
            await onMaster(`sudo -n chmod 755 ${MASTER_DIR}`);
          },
        },
        {
          what: '  of which DROP DATABASE of a full database',
          prepare: async () => {
            freshScratch();
            await onMaster(pgRestore(`--jobs ${jobs}`, 'custom.dump'));
          },
          run: async () => dropScratch(),
        },
        {
          what: '  of which CREATE DATABASE … TEMPLATE template0',
          prepare: async () => {
            dropScratch();
          },
          run: async () => freshScratch(),
        },
        {
          what: `pg_restore -j${jobs} --section=pre-data --section=data (schema, COPY)`,
          prepare: async () => freshScratch(),
          run: () => onMaster(pgRestore(`--jobs ${jobs} --section=pre-data --section=data`, 'custom.dump')),
        },
        {
          // After the variant above, on its database: the indexes, constraints and triggers alone.
          what: `pg_restore -j${jobs} --section=post-data (indexes, constraints)`,
          prepare: async () => {
            freshScratch();
            await onMaster(pgRestore(`--jobs ${jobs} --section=pre-data --section=data`, 'custom.dump'));
          },
          run: () => onMaster(pgRestore(`--jobs ${jobs} --section=post-data`, 'custom.dump')),
        },
      ];
      const times = variants.map(() => [] as Phase[]);
      for (let r = 0; r < PROFILE_ROUNDS; r++) {
        for (const [i, v] of variants.entries()) {
          await v.prepare();
          const t = await measured(v.run);
          if (!/DROP DATABASE|CREATE DATABASE/.test(v.what) && ballastRows(SCRATCH_DB) !== rowsBefore) throw new Error(`${v.what}: wrong row count`);
          times[i]!.push(t);
          console.log(`bench: profile: ${v.what}: ${t.seconds.toFixed(2)} s; CPU ${cpuLine(t.cpu)}`);
        }
      }
      dropScratch();
      for (const [i, v] of variants.entries()) {
        const b = best(times[i]!);
        profile.push({ what: v.what, seconds: b.seconds, runs: times[i]!.map((t) => t.seconds), cpu: b.cpu, bytes: v.bytes });
      }
    }
    await onMaster(`sudo -n rm -rf ${MASTER_DIR}`);
    await cleanStore();
    mon.stop();
    await stopChild(worker);
    worker = undefined;
    load.end = loadavg();

    const result = {
      at: new Date().toISOString(),
      machine: `lab loopback hosts, ${cpus().length} vCPU`,
      loadavg: { start: load.start, end: load.end },
      target: 'rtoRatio = replace step / manual psql ≤ 0.5; streamRatio = runbook relay / raw ssh stream ≥ 0.9',
      rounds: ROUNDS,
      database: { name: lava.dbName, sizeBytes: grow.bytes, targetGiB: TARGET_GIB, ballastRows: rowsBefore },
      dumps: { bundleCustomBytes: dumpBytes, bundleDumpCompression: DUMP_COMPRESSION, plainSqlBytes: plainBytes, bundle },
      pgRestoreJobs: jobs,
      manual: {
        command: `ssh store cat ${PLAIN_ON_STORE} | ssh master 'sudo -u ${lava.dbUser} psql -v ON_ERROR_STOP=1 -d <fresh db>'`,
        runs: manual,
        best: best(manual).seconds,
      },
      runbook: { runs, bestReplaceStepSeconds: bestRun.replaceStep.seconds, bestFetchSeconds: bestFetch.seconds },
      rawStream: {
        toNull: { command: 'ssh store cat lava-server.dump | ssh master cat > /dev/null', runs: raw.toNull, best: best(raw.toNull).seconds },
        toFile: { command: "ssh store cat lava-server.dump | ssh master sudo sh -c 'cat > file'", runs: raw.toFile, best: best(raw.toFile).seconds },
      },
      rtoRatio,
      streamRatio,
      streamRatioToFile,
      profileRounds: PROFILE_ROUNDS,
      profile,
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/restore${DUMP_COMPRESSION === 'default' ? '' : `-${DUMP_COMPRESSION}`}.json`, JSON.stringify(result, null, 2));

    const row = (what: string, value: string): void => console.log(`${what.padEnd(76)}${value}`);
    const secs = (x: number): string => `${x.toFixed(2).padStart(8)} s`;
    const list = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' / ');
    const mbps = (x: number): string => `${rate(dumpBytes, x).toFixed(0).padStart(6)} MiB/s`;
    console.log('');
    row('database lavaserver (pg_database_size)', `${(grow.bytes / GiB).toFixed(3)} GiB, ${rowsBefore} ballast rows`);
    row(
      `bundle lava-server.dump (custom, dumpCompression ${DUMP_COMPRESSION}) / plain SQL`,
      `${(dumpBytes / GiB).toFixed(3)} / ${(plainBytes / GiB).toFixed(3)} GiB`,
    );
    row('load average (1 / 5 / 15 min) at start → end', `${load.start.map((x) => x.toFixed(1)).join(' ')} → ${load.end.map((x) => x.toFixed(1)).join(' ')}`);
    row('(a) ssh store cat dump.sql | ssh master psql, fresh database (best)', `${secs(best(manual).seconds)}   runs ${list(manual.map((x) => x.seconds))}`);
    row(
      `(b) "${REPLACE_STEP}" (pg_restore -j${jobs}), scheduled → closed (best)`,
      `${secs(bestRun.replaceStep.seconds)}   runs ${list(runs.map((x) => x.replaceStep.seconds))}`,
    );
    row('rtoRatio (b)/(a) (target ≤ 0.50)', `${rtoRatio.toFixed(2)}×  ${rtoRatio <= 0.5 ? 'meets' : 'MISSES'} the target`);
    for (const [i, x] of runs.entries()) {
      row(
        `(c) whole lavaMasterRestore run ${i + 1}, start → completed`,
        `${secs(x.wholeRunSeconds)}   of which the bench's approvals ${x.approvalWaitSeconds.toFixed(2)} s`,
      );
    }
    row(
      '(d) raw ssh store cat dump | ssh master cat > /dev/null (best)',
      `${secs(best(raw.toNull).seconds)} ${mbps(best(raw.toNull).seconds)}   runs ${list(raw.toNull.map((x) => x.seconds))}`,
    );
    row(
      '    raw, to a file as the fetch writes it (best)',
      `${secs(best(raw.toFile).seconds)} ${mbps(best(raw.toFile).seconds)}   runs ${list(raw.toFile.map((x) => x.seconds))}`,
    );
    row(
      `(d) runbook "${FETCH_STEP}" (ssh2 relay through the worker, best)`,
      `${secs(bestFetch.seconds)} ${mbps(bestFetch.seconds)}   runs ${list(runs.map((x) => x.fetchStep.seconds))}`,
    );
    row(
      'streamRatio relay / raw to /dev/null (target ≥ 0.90)',
      `${streamRatio.toFixed(2)}×  ${streamRatio >= 0.9 ? 'meets' : 'MISSES'} the target (${streamRatioToFile.toFixed(2)}× raw to a file)`,
    );
    if (profile.length) console.log(`\nWhat limits (b): the same database restored on the master, best of ${PROFILE_ROUNDS}:`);
    const ref = profile[0]?.seconds ?? best(manual).seconds;
    for (const x of profile) row(`  ${x.what}`, `${secs(x.seconds)}   ${(x.seconds / ref).toFixed(2)}× (a) of the profile; runs ${list(x.runs)}`);
  } finally {
    if (worker) await stopChild(worker);
    await bench.close();
  }
}

/** stdout of a shell command line (for the small facts the bench reads off a host). */
function captured(script: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('bash', ['-o', 'pipefail', '-c', script], { encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
