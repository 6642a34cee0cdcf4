// lavaWorkerRestore: LAVA's "Restoring a worker from backups". The token is the critical file: it goes
// back 0600 with the worker config, then lava-worker restarts and must show Online on the master.
// Refuses unless the master answers with every device in Maintenance or Retired (no job may land on a
// half-restored worker) and lava-dispatcher is at the version the bundle recorded.
import { z } from 'zod';
import { describeCommand, stdoutOf } from '../engine/commands.js';
import { readManifest, sendFile } from './backup-store.js';
import { common, hostName } from '../engine/input-fields.js';
import {
  compareInstalled,
  devicesCsv,
  fileModes,
  healthOf,
  LAVA_LOGS,
  receiveTarMembers,
  serviceAll,
  startAndCheck,
  waitWorkerOnline,
  workerName,
} from './restore-commands.js';
import { LAVA_WORKER_BUNDLE_ROOT } from './worker-backup.js';
import { findCheckedBundle } from './bundle-steps.js';
import { call, gate, runbook, step, type RunContext } from '../engine/runbook.js';

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

const TOKEN = 'var/lib/lava/dispatcher/worker/token';
const CONFIG = 'etc/lava-dispatcher/lava-worker';
const found = (ctx: Ctx): string => ctx.get<{ bundle: string }>('found').bundle;
const manifest = (ctx: Ctx) => ctx.get<{ versions: Record<string, string>; encryption?: { tool: string }; files: Record<string, unknown> }>('manifest');
const encrypted = (ctx: Ctx): boolean => manifest(ctx).encryption?.tool === 'age';
const archive = (ctx: Ctx): string => `${found(ctx)}/${encrypted(ctx) ? 'worker.tar.age' : 'worker.tar'}`;

export const lavaWorkerRestore = runbook({
  name: 'lavaWorkerRestore',
  input: LavaWorkerRestoreInput,
  hosts: (i) => [i.worker, i.master, i.store],
  leases: (i) => [i.worker],
  steps: (i) => [
    ...findCheckedBundle<Input>(i.store, LAVA_WORKER_BUNDLE_ROOT, i.bundle, i.worker),
    step('read the manifest', (ctx) => readManifest(i.store, found(ctx), ['versions', 'encryption', 'files', 'paths']), {
      idempotent: true,
      readOnly: true,
      as: 'manifest',
      parse: (r) => JSON.parse(stdoutOf(r)),
      verdict: true,
      expect: (m) => {
        const present = (m as { paths?: { present: string[] } }).paths?.present ?? [];
        const missing = [TOKEN, CONFIG].filter((p) => !present.includes(p));
        return missing.length ? `the bundle has no ${missing.join(' and no ')}` : undefined;
      },
    }),
    step('check the master has every device in maintenance', () => devicesCsv(i.master), {
      idempotent: true,
      readOnly: true,
      verdict: true,
      parse: (r) => healthOf(stdoutOf(r)),
      expect: (v) => {
        const live = (v as { hostname: string; health: string }[]).filter((d) => !['Maintenance', 'Retired'].includes(d.health));
        return live.length
          ? `devices on ${i.master} still in service: ${live.map((d) => `${d.hostname} ${d.health}`).join(', ')}; put them in Maintenance first`
          : undefined;
      },
    }),
    step('compare the lava-dispatcher version', (ctx) => compareInstalled(i.worker, 'lava-dispatcher', manifest(ctx).versions['lava-dispatcher'] ?? '0'), {
      idempotent: true,
      readOnly: true,
      verdict: true,
      parse: (r) => stdoutOf(r).trim().split(' '),
      expect: (v, ctx) =>
        (v as string[])[0] === 'equal'
          ? undefined
          : `lava-dispatcher on ${i.worker} is ${(v as string[])[1]}, the bundle recorded ${manifest(ctx).versions['lava-dispatcher']}: install that version first`,
    }),
    gate('replace-worker-config', (ctx) => [`put back /${TOKEN} (0600) and /${CONFIG} on ${i.worker} from ${found(ctx)}`]),
    step('stop lava-worker', () => serviceAll(i.worker, 'stop', ['lava-worker']), { idempotent: true }),
    call<Input>(
      'put back the token and worker config',
      'pipeCommands',
      (ctx) => ({
        from: sendFile(i.store, archive(ctx)),
        to: receiveTarMembers(i.worker, [CONFIG, TOKEN]),
        step: 'put back the token and worker config',
        transform: encrypted(ctx) ? { decrypt: true } : undefined,
      }),
      (ctx) => [
        `${describeCommand(sendFile(i.store, archive(ctx)))}${encrypted(ctx) ? ' | worker$ age --decrypt' : ''} | ${describeCommand(receiveTarMembers(i.worker, [CONFIG, TOKEN]))}`,
      ],
      { idempotent: true, danger: true },
    ),
    step('check the token is private', () => fileModes(i.worker, [`/${TOKEN}`]), {
      idempotent: true,
      readOnly: true,
      parse: (r) => stdoutOf(r).trim(),
      expect: (v) => ((v as string).startsWith('600 ') ? undefined : `the token is not 0600: ${v as string}`),
    }),
    step('start lava-worker', () => startAndCheck(i.worker, ['lava-worker'], LAVA_LOGS), {
      idempotent: true,
      parse: (r) => stdoutOf(r).trim().split('\n'),
      expect: (v) => {
        const errors = (v as string[]).filter((l) => l.startsWith('error '));
        return errors.length ? `errors in the worker log since the start: ${errors.join(' | ')}` : undefined;
      },
    }),
    step('read the worker name', () => workerName(i.worker), { idempotent: true, readOnly: true, as: 'name', parse: (r) => stdoutOf(r).trim() }),
    step('check the worker is online on the master', (ctx) => waitWorkerOnline(i.master, ctx.get<string>('name')), { idempotent: true, readOnly: true }),
  ],
  output: (ctx) => ({ bundle: found(ctx), worker: ctx.get<string>('name'), online: true }),
});
