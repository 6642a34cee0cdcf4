// rearControllerRecovery: steps 3–4 and after of the ReaR seed, on a libvirt hypervisor. The controller's
// rescue ISO (written by rearBackup, with its checksum in runbook-record.json on the store) is checked for
// THIS host, copied to the hypervisor and checked again there; the domain definition is saved (the seed's
// controller-0.xml.bak, also kept in the run's audit store); the domain is powered off (gate `power-off`;
// `virsh destroy` only after a timeout and a second gate); the definition is edited with an XML library to
// boot the ISO first and defined; `virsh start` (gate `boot-rescue`) boots the rescue system, where
// `rear recover` runs by hand (manual: the run waits for the operator at gate `rear-recover-finished`) or
// by itself (unattended: the run watches ReaR's lines in the serial log). Then the saved definition is
// defined again, so the next boot is from disk (the seed: "each time you reboot the node will have the ISO
// file as the first boot option"), checked equal to the saved one, and the domain started from disk.
// An abort or failure after the save puts the saved definition back (cleanup, not cancellable).
import { z } from 'zod';
import type { DomainState, LibvirtSettings, SavedDefinition, WrittenDefinition } from '../../activities/libvirt/libvirt.js';
import type { PipeResult } from '../../activities/ssh/pipe.js';
import { remote, stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import {
  defineIfSaved,
  destroyIfRunning,
  shutdownIfRunning,
  startIfOff,
  stopWithin,
  virsh,
  virshArgv,
  waitShutOff,
  watchRecovery,
} from './libvirt-commands.js';
import { call, gate, runbook, step, type RunContext } from '../engine/runbook.js';

/** libvirt allows more, but a name that is also a file name and one shell word is all a controller needs. */
const domainName = () => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a libvirt domain name (letters, digits, ".", "_", "-")');
const backupBase = () =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'an absolute path (letters, digits, "._-/")')
    .refine((p) => !p.split('/').includes('..') && p !== '/' && !p.endsWith('/'), 'no "..", not "/", no trailing "/"');

export const RearControllerRecoveryInput = () =>
  z.strictObject({
    hypervisor: hostName(),
    domain: domainName(),
    store: hostName(),
    /** The controller's host name in the backup (ReaR's $HOSTNAME); default: the domain name. */
    host: hostName().optional(),
    /** The store's ReaR directory (rearPrepareStore's `path`); the backup is in <storePath>/<host>/. */
    storePath: backupBase().default('/data/backup'),
    /** Which rescue ISO: the one recorded in <storePath>/<host>/runbook-record.json. */
    iso: z.literal('latest').default('latest'),
    mode: z.enum(['manual', 'unattended']),
    /** Inventory name of the recovered controller: checked over SSH at the end. */
    controller: hostName().optional(),
    /** How long `virsh shutdown` may take before the `destroy` gate opens. */
    shutdownTimeoutSeconds: z.number().int().min(5).max(3600).default(300),
    /** Unattended mode: how long ReaR may take before the run parks. */
    recoverTimeoutSeconds: z.number().int().min(30).max(86400).default(7200),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof RearControllerRecoveryInput>>;
type Ctx = RunContext<Input>;

/** rearBackup's record of one controller's backup (the documented contract between the two runbooks). */
export interface BackupRecord {
  host: string;
  iso: { file: string; sha256: string; bytes: number };
  backup: { file: string; sha256: string; bytes: number };
  rearVersion?: string;
  recordedAt: string;
  workflowId?: string;
}

const hostOf = (i: Input): string => i.host ?? i.domain;
const isoName = (i: Input): string => `rear-${hostOf(i)}.iso`;
const settings = (ctx: Ctx): LibvirtSettings => ctx.get<LibvirtSettings>('settings');
const record = (ctx: Ctx): BackupRecord => ctx.get<BackupRecord>('record');
const domain = (ctx: Ctx): DomainState => ctx.get<DomainState>('domain');
const isoPath = (ctx: Ctx): string => `${settings(ctx).isoDir}/${isoName(ctx.input)}`;
/** Files of this run on the hypervisor: named by domain and run, so two runs never share a saved copy. */
const runFile = (ctx: Ctx, suffix: string): string =>
  `${settings(ctx).isoDir}/${ctx.input.domain}.${ctx.workflowId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80)}.${suffix}`;
const savedPath = (ctx: Ctx): string => runFile(ctx, 'xml.bak');
const running = (ctx: Ctx): boolean => domain(ctx).state !== 'shut off';
const poweredOff = (ctx: Ctx): boolean => ctx.get<{ off: boolean }>('shutdown').off;
const manual = (ctx: Ctx): boolean => ctx.input.mode === 'manual';
const hexSha = /^[0-9a-f]{64}$/;
const isRescueIso = (src?: string): boolean => Boolean(src && /(^|\/)rear-[^/]*\.iso$/.test(src));

/** Why the domain must not be touched: it already boots (or runs) a rescue ISO, or its definition is unusable. */
function domainRefusal(d: DomainState, i: Input): string | undefined {
  if (!d.inactive.uuid) return `${i.domain} has no UUID in its definition`;
  const liveIso = d.live?.cdroms.find((c) => isRescueIso(c.source));
  if (liveIso && d.live?.firstBoot.startsWith('cdrom:')) {
    return `${i.domain} is already running a rescue ISO (${liveIso.source} on ${liveIso.target}, booted first): a recovery is in progress or was left running; finish or stop it first`;
  }
  const defIso = d.inactive.cdroms.find((c) => isRescueIso(c.source));
  if (defIso && d.inactive.firstBoot.startsWith('cdrom:')) {
    return `${i.domain}'s definition already boots a rescue ISO first (${defIso.source}): an earlier recovery left it edited; define its saved original first`;
  }
  if (i.mode === 'unattended' && !d.inactive.serialLog) {
    return `unattended mode reads ReaR's lines from the serial console's log, and ${i.domain} has none (<serial><log file=…/>): use mode "manual" or add one`;
  }
  return undefined;
}

function recordRefusal(r: BackupRecord, i: Input): string | undefined {
  if (r.host !== hostOf(i)) return `the backup record in ${i.storePath}/${hostOf(i)}/ is for host "${r.host}", not "${hostOf(i)}": refused`;
  if (r.iso?.file !== isoName(i)) return `the record's ISO is "${r.iso?.file}", not ${isoName(i)} (the rescue image of ${hostOf(i)}): refused`;
  if (!hexSha.test(r.iso.sha256 ?? '')) return `the record has no valid sha256 for ${r.iso.file}`;
  return undefined;
}

export const rearControllerRecovery = runbook({
  name: 'rearControllerRecovery',
  input: RearControllerRecoveryInput,
  hosts: (i) => [i.hypervisor, i.store, ...(i.controller ? [i.controller] : [])],
  leases: (i) => [i.hypervisor],
  steps: (i) => {
    const h = i.hypervisor;
    const dir = `${i.storePath}/${hostOf(i)}`;
    const readDomain = (ctx: Ctx) => ({ hypervisor: h, domain: i.domain, settings: settings(ctx) });
    return [
      // ---- preflight (read-only) ----
      call<Input>(
        "read the worker's libvirt settings",
        'libvirtSettings',
        () => ({}),
        () => ['worker: libvirt settings (virsh URI, sudo, ISO directory)'],
        { idempotent: true, readOnly: true, as: 'settings' },
      ),
      step('read the backup record', () => remote(i.store, ['cat', '--', `${dir}/runbook-record.json`], { sudo: true }), {
        idempotent: true,
        readOnly: true,
        as: 'record',
        verdict: true,
        parse: (r) => JSON.parse(stdoutOf(r)) as BackupRecord,
        expect: (v) => recordRefusal(v as BackupRecord, i),
      }),
      step('check the ISO on the store', () => remote(i.store, ['sha256sum', '--', `${dir}/${isoName(i)}`], { sudo: true, timeoutSeconds: 1800 }), {
        idempotent: true,
        readOnly: true,
        verdict: true,
        parse: (r) => stdoutOf(r).split(' ')[0],
        expect: (v, ctx) =>
          v === record(ctx).iso.sha256
            ? undefined
            : `${dir}/${isoName(i)} has sha256 ${String(v).slice(0, 12)}…, the backup record says ${record(ctx).iso.sha256.slice(0, 12)}…: refused`,
      }),
      call<Input>(
        'read the domain',
        'readDomain',
        readDomain,
        () => [`${h}$ virsh domstate ${i.domain}; virsh dumpxml --inactive ${i.domain}; virsh dumpxml ${i.domain} (if running)`],
        {
          idempotent: true,
          readOnly: true,
          verdict: true,
          as: 'domain',
          expect: (v) => domainRefusal(v as DomainState, i),
        },
      ),
      // ---- the ISO onto the hypervisor, the definition saved ----
      call<Input>(
        'copy the ISO to the hypervisor',
        'pipeCommands',
        (ctx) => ({
          from: remote(i.store, ['cat', '--', `${dir}/${isoName(i)}`], { sudo: true }),
          to: remote(h, ['sh', '-c', 'umask 022 && cat > "$1.partial" && mv -f -- "$1.partial" "$1"', 'receive-iso', isoPath(ctx)], {
            sudo: settings(ctx).sudo,
          }),
          step: 'copy the ISO to the hypervisor',
        }),
        (ctx) => [`${i.store}$ sudo cat ${dir}/${isoName(i)} | ${h}$ cat > ${isoPath(ctx)}`],
        {
          idempotent: true,
          timeout: '2 hours',
          expect: (v, ctx) =>
            (v as PipeResult).sha256 === record(ctx).iso.sha256 ? undefined : `the copy's sha256 ${(v as PipeResult).sha256.slice(0, 12)}… is not the record's`,
        },
      ),
      step('verify the ISO on the hypervisor', (ctx) => remote(h, ['sha256sum', '--', isoPath(ctx)], { sudo: settings(ctx).sudo, timeoutSeconds: 1800 }), {
        idempotent: true,
        readOnly: true,
        parse: (r) => stdoutOf(r).split(' ')[0],
        expect: (v, ctx) =>
          v === record(ctx).iso.sha256
            ? undefined
            : `${isoPath(ctx)} on ${h} has sha256 ${String(v).slice(0, 12)}…, not the record's ${record(ctx).iso.sha256.slice(0, 12)}…`,
      }),
      call<Input>(
        'save the domain definition',
        'saveDomainDefinition',
        (ctx) => ({ ...readDomain(ctx), path: savedPath(ctx) }),
        (ctx) => [`${h}$ virsh dumpxml --inactive ${i.domain} > ${savedPath(ctx)} (and into the run's audit store)`],
        {
          idempotent: true,
          as: 'saved',
          expect: (v, ctx) =>
            (v as SavedDefinition).facts.uuid === domain(ctx).inactive.uuid
              ? undefined
              : `the saved definition has UUID ${(v as SavedDefinition).facts.uuid}, not ${domain(ctx).inactive.uuid}`,
        },
      ),
      // ---- power off ----
      gate<Input>(
        'power-off',
        (ctx) => [
          `${i.domain} (UUID ${domain(ctx).inactive.uuid}) is ${domain(ctx).state} on ${h}: it is shut down (ACPI) and waited for ${i.shutdownTimeoutSeconds}s`,
          'if it does not power off by then, a second gate (destroy) asks before the hard power-off',
        ],
        { when: running },
      ),
      step('virsh shutdown', (ctx) => shutdownIfRunning(h, settings(ctx), i.domain), { idempotent: true, danger: true, when: running }),
      step('wait until it is shut off', (ctx) => waitShutOff(h, settings(ctx), i.domain, i.shutdownTimeoutSeconds), {
        idempotent: true,
        readOnly: true,
        as: 'shutdown',
        when: running,
        parse: (r) => ({ off: stdoutOf(r).trim() === 'off', says: stdoutOf(r).trim() }),
      }),
      gate<Input>(
        'destroy',
        (ctx) => [`${i.domain} did not power off: ${ctx.get<{ says: string }>('shutdown').says}`, 'virsh destroy is a HARD power-off (like pulling the plug)'],
        {
          when: (ctx) => running(ctx) && !poweredOff(ctx),
        },
      ),
      step('virsh destroy', (ctx) => destroyIfRunning(h, settings(ctx), i.domain), {
        idempotent: true,
        danger: true,
        when: (ctx) => running(ctx) && !poweredOff(ctx),
      }),
      // ---- boot from the ISO ----
      call<Input>(
        'write the rescue definition',
        'writeRescueDefinition',
        (ctx) => ({ ...readDomain(ctx), savedPath: savedPath(ctx), path: runFile(ctx, 'rescue.xml'), iso: isoPath(ctx) }),
        (ctx) => [
          `worker: the saved definition + cdrom ${isoPath(ctx)} booted first, boot menu on, on_reboot destroy (XML library) → ${h}:${runFile(ctx, 'rescue.xml')}`,
        ],
        { idempotent: true, as: 'rescue' },
      ),
      step('define the rescue definition', (ctx) => virsh(h, settings(ctx), ['define', runFile(ctx, 'rescue.xml')]), { idempotent: true, danger: true }),
      call<Input>('check it boots from the cdrom', 'readDomain', readDomain, () => [`${h}$ virsh domstate ${i.domain}; virsh dumpxml --inactive ${i.domain}`], {
        idempotent: true,
        readOnly: true,
        as: 'edited',
        expect: (v, ctx) => {
          const d = v as DomainState;
          if (d.inactive.firstBoot !== `cdrom:${isoPath(ctx)}`)
            return `after define, ${i.domain} boots ${d.inactive.firstBoot} first, not the cdrom with ${isoPath(ctx)}`;
          return d.state === 'shut off' ? undefined : `${i.domain} is ${d.state}, expected shut off`;
        },
      }),
      step(
        'note the serial log size',
        (ctx) =>
          remote(h, ['sh', '-c', 'stat -c %s -- "$1" 2>/dev/null || echo 0', 'log-size', ctx.get<DomainState>('edited').inactive.serialLog ?? '/dev/null'], {
            sudo: settings(ctx).sudo,
          }),
        {
          idempotent: true,
          readOnly: true,
          as: 'logOffset',
          parse: (r) => Number(stdoutOf(r).trim()) || 0,
        },
      ),
      gate<Input>('boot-rescue', (ctx) => [
        `${i.domain} boots the rescue image ${isoPath(ctx)} (${ctx.get<WrittenDefinition>('rescue').bus} ${ctx.get<WrittenDefinition>('rescue').target}, ${ctx.get<WrittenDefinition>('rescue').bootStyle} boot order, cdrom first)`,
        `backup of ${record(ctx).host} recorded ${record(ctx).recordedAt}, ISO sha256 ${record(ctx).iso.sha256.slice(0, 16)}… (checked on the store and on ${h})`,
        manual(ctx)
          ? 'mode manual: the run then waits for you to run `rear recover` in its console'
          : "mode unattended: ReaR's automatic recovery OVERWRITES the disks without asking; the run watches its console log",
      ]),
      step('virsh start (rescue system)', (ctx) => startIfOff(h, settings(ctx), i.domain), { idempotent: true, danger: true }),
      gate<Input>(
        'rear-recover-finished',
        (ctx) => [
          `on ${h}: ${settings(ctx).sudo ? 'sudo ' : ''}${virshArgv(settings(ctx), ['console', i.domain]).join(' ')}   (leave with Ctrl+])`,
          `at the "RESCUE ${hostOf(i)}:~ #" prompt type: rear recover   (and answer its questions)`,
          'when it says it finished, approve this gate; reject it if the recovery failed (either way the original definition is put back)',
        ],
        { when: manual },
      ),
      step(
        'watch the recovery',
        (ctx) =>
          watchRecovery(
            h,
            settings(ctx),
            i.domain,
            ctx.get<DomainState>('edited').inactive.serialLog ?? '',
            ctx.get<number>('logOffset'),
            i.recoverTimeoutSeconds,
          ),
        {
          idempotent: true,
          readOnly: true,
          when: (ctx) => !manual(ctx),
          timeout: `${i.recoverTimeoutSeconds + 300} seconds`,
          as: 'recovery',
          parse: (r) => stdoutOf(r).trim(),
        },
      ),
      // ---- back to the disk ----
      step('stop the rescue system', (ctx) => stopWithin(h, settings(ctx), i.domain, i.shutdownTimeoutSeconds), { idempotent: true }),
      step('restore the original definition', (ctx) => virsh(h, settings(ctx), ['define', savedPath(ctx)]), { idempotent: true }),
      call<Input>(
        'check the original definition is back',
        'compareDefinition',
        (ctx) => ({ ...readDomain(ctx), savedPath: savedPath(ctx) }),
        (ctx) => [`${h}$ virsh dumpxml --inactive ${i.domain} vs ${savedPath(ctx)}, normalised`],
        {
          idempotent: true,
          readOnly: true,
          expect: (v) => ((v as { equal: boolean }).equal ? undefined : `${i.domain}'s definition differs from the saved one after define`),
        },
      ),
      step('virsh start (from disk)', (ctx) => startIfOff(h, settings(ctx), i.domain), { idempotent: true }),
      call<Input>('check it runs from disk', 'readDomain', readDomain, () => [`${h}$ virsh domstate ${i.domain}; virsh dumpxml ${i.domain}`], {
        idempotent: true,
        readOnly: true,
        as: 'after',
        expect: (v) => {
          const d = v as DomainState;
          if (d.state !== 'running') return `${i.domain} is ${d.state} after start`;
          return d.live && !d.live.firstBoot.startsWith('cdrom:') ? undefined : `${i.domain} still boots ${d.live?.firstBoot} first`;
        },
      }),
      Boolean(i.controller) &&
        step('check the recovered controller over SSH', () => remote(i.controller!, ['hostname']), {
          idempotent: true,
          readOnly: true,
          as: 'controllerHostname',
          parse: (r) => stdoutOf(r).trim(),
        }),
    ];
  },
  // The saved definition goes back whatever happened after the save: an edited definition left behind
  // would boot the ISO on every start (with unattended ReaR: recover again, overwriting the disks).
  cleanup: (i) => [step('restore the original definition', (ctx) => defineIfSaved(i.hypervisor, settings(ctx), savedPath(ctx)), { idempotent: true })],
  output: (ctx) => ({
    domain: ctx.input.domain,
    uuid: domain(ctx).inactive.uuid,
    host: hostOf(ctx.input),
    iso: { path: isoPath(ctx), sha256: record(ctx).iso.sha256, recordedAt: record(ctx).recordedAt },
    saved: ctx.get<SavedDefinition>('saved').path,
    rescue: {
      bus: ctx.get<WrittenDefinition>('rescue').bus,
      target: ctx.get<WrittenDefinition>('rescue').target,
      bootStyle: ctx.get<WrittenDefinition>('rescue').bootStyle,
    },
    mode: ctx.input.mode,
    recovery: ctx.input.mode === 'manual' ? 'confirmed by the operator at gate rear-recover-finished' : ctx.get<string>('recovery'),
    state: ctx.get<DomainState>('after').state,
    controller: ctx.results.controllerHostname,
  }),
});
