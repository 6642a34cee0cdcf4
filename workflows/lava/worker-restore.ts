// lavaWorkerRestore: LAVA's "Restoring a worker from backups". The token is the critical file: it goes
// back 0600 with the worker config, together with everything else the worker backup saved (ser2net, udev
// rules, PDU scripts, dispatcher config: the source's "other files"); udev and ser2net reload, then
// lava-worker restarts and must show Online on the master.
// Refuses unless the master answers with every device in Maintenance or Retired (no job may land on a
// half-restored worker) and lava-dispatcher is at the version the bundle recorded.
import { z } from 'zod';
import { stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { change, gate, read, runbook, type RunContext } from '../engine/runbook.js';
import { readManifest, sendFile } from './backup-store.js';
import { findCheckedBundle, json, lines, stream } from './bundle-steps.js';
import {
  deviceList,
  devicesInService,
  dispatcherVersionProblem,
  healthOf,
  installedOf,
  logErrors,
  TOKEN,
  WORKER_CONFIG,
  workerBundleProblem,
  type WorkerManifest,
} from './checks.js';
import {
  compareInstalled,
  devicesCsv,
  fileModes,
  LAVA_LOGS,
  receiveTarMembers,
  reloadWorkerSetup,
  serviceAll,
  startAndCheck,
  waitWorkerOnline,
  workerName,
} from './restore-commands.js';
import { LAVA_WORKER_BUNDLE_ROOT } from './worker-backup.js';

export const LavaWorkerRestoreInput = () =>
  z.strictObject({
    worker: hostName(),
    master: hostName(),
    store: hostName(),
    bundle: z.string().regex(/^(latest|[0-9]{8}T[0-9]{6}Z(-[a-z0-9-]+)?)$/, '"latest" or a bundle name such as 20261122T020000Z'),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof LavaWorkerRestoreInput>>;
type Ctx = RunContext<Input>;

export const lavaWorkerRestore = runbook({
  name: 'lavaWorkerRestore',
  input: LavaWorkerRestoreInput,
  hosts: (i) => [i.worker, i.master, i.store],
  leases: (i) => [i.worker],
  procedure: (i) => {
    const { found, checked } = findCheckedBundle<Input>(i.store, LAVA_WORKER_BUNDLE_ROOT, i.bundle, i.worker);
    const bundle = (ctx: Ctx): string => found.value(ctx).bundle;
    const manifest = read(
      'read the manifest',
      (ctx: Ctx) => readManifest(i.store, bundle(ctx), found.value(ctx).manifestSha256, ['versions', 'encryption', 'files', 'paths']),
      {
        parse: json<WorkerManifest>(),
        verdict: true,
        expect: workerBundleProblem,
      },
    );
    const encrypted = (ctx: Ctx): boolean => manifest.value(ctx).encryption?.tool === 'age';
    const archive = (ctx: Ctx): string => `${bundle(ctx)}/${encrypted(ctx) ? 'worker.tar.age' : 'worker.tar'}`;
    // Every path the backup found, the token and config first; each is a member of worker.tar.
    const saved = (ctx: Ctx): string[] => [
      TOKEN,
      WORKER_CONFIG,
      ...(manifest.value(ctx).paths?.present ?? []).filter((p) => p !== TOKEN && p !== WORKER_CONFIG),
    ];
    const name = read('read the worker name', () => workerName(i.worker), { parse: (r) => stdoutOf(r).trim() });

    return {
      steps: [
        found,
        checked,
        manifest,
        read('check the master has every device in maintenance', () => devicesCsv(i.master), {
          verdict: true,
          parse: (r) => healthOf(stdoutOf(r)),
          expect: (v) => {
            const live = devicesInService(v);
            return live.length ? `devices on ${i.master} still in service: ${deviceList(live)}; put them in Maintenance first` : undefined;
          },
        }),
        read(
          'compare the lava-dispatcher version',
          (ctx: Ctx) => compareInstalled(i.worker, 'lava-dispatcher', manifest.value(ctx).versions['lava-dispatcher'] ?? '0'),
          {
            verdict: true,
            parse: (r) => installedOf(stdoutOf(r)),
            expect: (v, ctx) => dispatcherVersionProblem(i.worker, v, manifest.value(ctx).versions['lava-dispatcher']),
          },
        ),
        gate('replace-worker-config', (ctx: Ctx) => [
          `put back /${TOKEN} (0600) and /${WORKER_CONFIG} on ${i.worker} from ${bundle(ctx)}`,
          `and the rest the backup saved: ${
            saved(ctx)
              .slice(2)
              .map((p) => `/${p}`)
              .join(', ') || 'nothing else'
          }`,
        ]),
        change('stop lava-worker', () => serviceAll(i.worker, 'stop', ['lava-worker'])),
        change(
          'put back the token, worker config, ser2net, udev rules and PDU scripts',
          (ctx: Ctx) =>
            stream('put back the worker files', {
              from: sendFile(i.store, archive(ctx)),
              to: receiveTarMembers(i.worker, saved(ctx)),
              transform: encrypted(ctx) ? { decrypt: true } : undefined,
            }),
          { danger: true },
        ),
        read('check the token is private', () => fileModes(i.worker, [`/${TOKEN}`]), {
          parse: (r) => stdoutOf(r).trim(),
          expect: (v) => (v.startsWith('600 ') ? undefined : `the token is not 0600: ${v}`),
        }),
        change('reload udev rules and ser2net', () => reloadWorkerSetup(i.worker), { parse: lines }),
        change('start lava-worker', () => startAndCheck(i.worker, ['lava-worker'], LAVA_LOGS), {
          parse: (r) => stdoutOf(r).trim().split('\n'),
          expect: (v) => logErrors(v, 'the worker log'),
        }),
        name,
        read('check the worker is online on the master', (ctx: Ctx) => waitWorkerOnline(i.master, name.value(ctx))),
      ],
      output: (ctx) => ({ bundle: bundle(ctx), worker: name.value(ctx), online: true, restored: saved(ctx).map((p) => `/${p}`) }),
    };
  },
});
