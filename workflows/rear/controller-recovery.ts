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
import { remote, stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { activity, change, gate, onlyIf, read, runbook, since, type RunContext } from '../engine/runbook.js';
import {
  defineIfSaved,
  destroyIfRunning,
  fileSize,
  parseShutOff,
  receiveFile,
  shutdownIfRunning,
  startIfOff,
  stopWithin,
  virsh,
  virshArgv,
  waitShutOff,
  watchRecovery,
} from './libvirt-commands.js';
import { rootKeyRefusal } from './backup-steps.js';
import authorizeRecovery from './scripts/authorize-recovery.sh';
import forgetRecoveryKey from './scripts/forget-recovery-key.sh';
import recoveryKey from './scripts/recovery-key.sh';
import revokeRecovery from './scripts/revoke-recovery.sh';
import { systemUser } from './store.js';
import { recordedBackupSteps } from './recovery-steps.js';
import { identityMatch, identityRefusal, parseIdentity } from './identity.js';
import identityScript from './scripts/identity.sh';
import { waitForNewBoot } from '../sno/recovery.js';
import { domainRefusal, editedRefusal, fromDiskRefusal, hostOf, isoName, recordRefusal, runFile, shaOf } from './recovery-checks.js';

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
    /** The store's backup user (rearBackup's `user`): this recovery's key is let in as it, for this run only. */
    user: systemUser().default('rear'),
    /** Which rescue ISO: the one recorded in <storePath>/<host>/runbook-record.json. */
    iso: z.literal('latest').default('latest'),
    mode: z.enum(['manual', 'unattended']),
    /**
     * Inventory name of the recovered controller: once it boots from its disk, it must answer SSH with its
     * pinned host key and match the backup record (host name, machine-id, host keys, recorded files).
     */
    controller: hostName().optional(),
    /** How long the first boot from disk may take until the controller answers SSH. */
    bootTimeoutSeconds: z.number().int().min(10).max(7200).default(900),
    /** How long `virsh shutdown` may take before the `destroy` gate opens. */
    shutdownTimeoutSeconds: z.number().int().min(5).max(3600).default(300),
    /** Unattended mode: how long ReaR may take before the run parks. */
    recoverTimeoutSeconds: z.number().int().min(30).max(86400).default(7200),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof RearControllerRecoveryInput>>;
type Ctx = RunContext<unknown>;

const readDomainShows = (r: { hypervisor: string; domain: string }) => [
  `${r.hypervisor}$ virsh domstate ${r.domain}; virsh dumpxml --inactive ${r.domain}; virsh dumpxml ${r.domain} (while it runs)`,
];

export const rearControllerRecovery = runbook({
  name: 'rearControllerRecovery',
  input: RearControllerRecoveryInput,
  hosts: (i) => [i.hypervisor, i.store, ...(i.controller ? [i.controller] : [])],
  leases: (i) => [i.hypervisor],
  procedure: (i) => {
    const h = i.hypervisor;
    const dir = `${i.storePath}/${hostOf(i)}`;
    const storeIso = `${dir}/${isoName(i)}`;

    const settings = read("read the worker's libvirt settings", () => activity('libvirtSettings', undefined));
    const lv = (ctx: Ctx) => settings.value(ctx);
    const recoveryComment = (ctx: Ctx): string => `runbooks-recovery:${ctx.workflowId.replace(/[^A-Za-z0-9._:-]/g, '_')}`;
    // sshd's expiry-time: the longest the rescue system may need the store (recovery, two shutdowns) and a margin.
    const recoveryWindowSeconds = i.recoverTimeoutSeconds + 2 * i.shutdownTimeoutSeconds + 1800;
    const recoveryExpiry = (now: Date): string => new Date(now.getTime() + recoveryWindowSeconds * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 12) + 'Z';
    const isoPath = (ctx: Ctx): string => `${lv(ctx).isoDir}/${isoName(i)}`;
    const savedPath = (ctx: Ctx): string => runFile(lv(ctx).isoDir, i.domain, ctx.workflowId, 'xml.bak');
    const rescuePath = (ctx: Ctx): string => runFile(lv(ctx).isoDir, i.domain, ctx.workflowId, 'rescue.xml');
    const keyIsoPath = (ctx: Ctx): string => runFile(lv(ctx).isoDir, i.domain, ctx.workflowId, 'key.iso');
    const readDomain = (ctx: Ctx) => activity('readDomain', { hypervisor: h, domain: i.domain, settings: lv(ctx) }, readDomainShows);
    const readDomainNative = (ctx: Ctx) =>
      activity('readDomain', { hypervisor: h, domain: i.domain, settings: lv(ctx), native: true }, (r) => [
        ...readDomainShows(r),
        `${r.hypervisor}$ virsh domxml-to-native qemu-argv --domain ${r.domain} (which drive holds bootindex=1)`,
      ]);

    const { recordSignature, record, stored } = recordedBackupSteps(i.store, dir, hostOf(i), isoName(i), (r) => recordRefusal(r, i));
    const sha = (ctx: Ctx): string => record.value(ctx).iso.sha256;
    const domain = read('read the domain', readDomain, { verdict: true, expect: (d) => domainRefusal(d, i) });
    const running = onlyIf<Input>(`${i.domain} is not shut off`, (ctx) => domain.value(ctx).state !== 'shut off');
    const saved = change(
      'save the domain definition',
      (ctx) =>
        activity('saveDomainDefinition', { hypervisor: h, domain: i.domain, settings: lv(ctx), path: savedPath(ctx) }, (r) => [
          `${r.hypervisor}$ virsh dumpxml --inactive ${r.domain} > ${r.path} (and into the run's audit store)`,
        ]),
      {
        expect: (s, ctx) =>
          s.facts.uuid === domain.value(ctx).inactive.uuid
            ? undefined
            : `the saved definition has UUID ${s.facts.uuid}, not ${domain.value(ctx).inactive.uuid}`,
      },
    );
    const shutdown = read('wait until it is shut off', (ctx) => waitShutOff(h, lv(ctx), i.domain, i.shutdownTimeoutSeconds), {
      when: running,
      parse: (r) => parseShutOff(stdoutOf(r)),
    });
    const stillOn = onlyIf<Input>(`${i.domain} did not power off`, (ctx) => running.holds(ctx) && !shutdown.value(ctx).off);
    // The store access `rear recover` needs, made for this run: the key's private half only ever on the
    // hypervisor's RBKEY drive, the public half in history; let in on the store only once boot-rescue is
    // approved, with an expiry sshd enforces, and taken off again whatever happens.
    const storeKey = change(
      'make a store key for this recovery',
      (ctx) => remote(h, ['sh', '-c', recoveryKey, 'recovery-key', keyIsoPath(ctx), recoveryComment(ctx)], { sudo: lv(ctx).sudo }),
      { parse: (r) => ({ key: stdoutOf(r).trim() }), expect: (k) => rootKeyRefusal(h, k) },
    );
    const revokeKey = (what: string) =>
      change(what, (ctx) => remote(i.store, ['sh', '-c', revokeRecovery, 'revoke-recovery', i.user, recoveryComment(ctx)], { sudo: true }), {
        parse: (r) => Number(stdoutOf(r).trim()) || 0,
      });
    const forgetKey = (what: string) =>
      change(what, (ctx) => remote(h, ['sh', '-c', forgetRecoveryKey, 'forget-recovery-key', keyIsoPath(ctx)], { sudo: lv(ctx).sudo }));
    const rescue = change('write the rescue definition', (ctx) =>
      activity(
        'writeRescueDefinition',
        {
          hypervisor: h,
          domain: i.domain,
          settings: lv(ctx),
          savedPath: savedPath(ctx),
          path: rescuePath(ctx),
          iso: isoPath(ctx),
          keyIso: keyIsoPath(ctx),
        },
        (r) => [
          `worker: ${r.savedPath} + cdrom ${r.iso} booted first, cdrom ${r.keyIso} (the recovery key, never booted), boot menu on, on_reboot destroy (XML library) → ${r.hypervisor}:${r.path}`,
        ],
      ),
    );
    const edited = read('check it boots from the cdrom', readDomainNative, { expect: (d, ctx) => editedRefusal(d, i.domain, isoPath(ctx)) });
    const logOffset = read('note the serial log size', (ctx) => fileSize(h, lv(ctx), edited.value(ctx).inactive.serialLog ?? '/dev/null'), {
      parse: (r) => Number(stdoutOf(r).trim()) || 0,
    });
    const manual = onlyIf<Input>('mode is manual', () => i.mode === 'manual');
    const recovery = read(
      'watch the recovery',
      (ctx) => watchRecovery(h, lv(ctx), i.domain, edited.value(ctx).inactive.serialLog ?? '', logOffset.value(ctx), i.recoverTimeoutSeconds),
      {
        when: onlyIf('mode is unattended', () => i.mode === 'unattended'),
        timeout: `${i.recoverTimeoutSeconds + 300} seconds`,
        parse: (r) => stdoutOf(r).trim(),
      },
    );
    const copy = change(
      'copy the ISO to the hypervisor',
      (ctx) =>
        activity('pipeCommands', {
          from: remote(i.store, ['cat', '--', storeIso], { sudo: true }),
          to: receiveFile(h, lv(ctx), isoPath(ctx)),
          step: 'copy the ISO to the hypervisor',
        }),
      { timeout: '2 hours', expect: (p, ctx) => (p.sha256 === sha(ctx) ? undefined : `the copy's sha256 ${p.sha256.slice(0, 12)}… is not the record's`) },
    );
    const compared = read(
      'check the original definition is back',
      (ctx) =>
        activity('compareDefinition', { hypervisor: h, domain: i.domain, settings: lv(ctx), savedPath: savedPath(ctx) }, (r) => [
          `${r.hypervisor}$ virsh dumpxml --inactive ${r.domain} vs ${r.savedPath}, normalised`,
        ]),
      { expect: (c) => (c.equal ? undefined : `${i.domain}'s definition differs from the saved one after define`) },
    );
    const after = read('check it runs from disk', readDomain, { expect: (d) => fromDiskRefusal(d, i.domain) });
    const revoked = revokeKey('take the recovery key off the store');
    const controller = i.controller;
    const compares = since<Input>('rear-recovery-identity', 'the run compares the recovered machine with its backup');
    // Builds before the comparison only asked the host name.
    const controllerCheck = controller
      ? read('check the recovered controller over SSH', () => remote(controller, ['hostname']), {
          when: compares.before('the run only asks the host name'),
          parse: (r) => stdoutOf(r).trim(),
        })
      : undefined;
    // A new boot id, over the link that pins the host key: the machine answering is a machine that booted
    // after the backup, with the backed-up sshd key (another key fails at once, HostKeyMismatch).
    const answers = controller
      ? read(
          `wait for ${controller} to answer SSH`,
          (ctx) => waitForNewBoot(controller, record.value(ctx).identity?.bootId ?? 'not-recorded', i.bootTimeoutSeconds),
          { when: compares, timeout: `${i.bootTimeoutSeconds + 300} seconds` },
        )
      : undefined;
    const identity = controller
      ? read(
          `compare ${controller} with the backup record`,
          (ctx) => remote(controller, ['sh', '-c', identityScript, 'identity', ...Object.keys(record.value(ctx).identity?.files ?? {})], { sudo: true }),
          {
            when: compares,
            verdict: true,
            parse: (r, ctx) => ({ ...parseIdentity(stdoutOf(r)), sshKey: answers?.value(ctx).hostKey }),
            expect: (got, ctx) => identityRefusal(hostOf(i), record.value(ctx).identity, got),
          },
        )
      : undefined;

    return {
      steps: [
        // ---- preflight (read-only) ----
        settings,
        recordSignature,
        record,
        stored,
        domain,
        // ---- the ISO onto the hypervisor, the definition saved ----
        copy,
        read('verify the ISO on the hypervisor', (ctx) => remote(h, ['sha256sum', '--', isoPath(ctx)], { sudo: lv(ctx).sudo, timeoutSeconds: 1800 }), {
          parse: (r) => shaOf(stdoutOf(r)),
          expect: (got, ctx) =>
            got === sha(ctx) ? undefined : `${isoPath(ctx)} on ${h} has sha256 ${got.slice(0, 12)}…, not the record's ${sha(ctx).slice(0, 12)}…`,
        }),
        saved,
        storeKey,
        // ---- power off ----
        gate<Input>(
          'power-off',
          (ctx) => [
            `${i.domain} (UUID ${domain.value(ctx).inactive.uuid}) is ${domain.value(ctx).state} on ${h}: it is shut down (ACPI) and waited for ${i.shutdownTimeoutSeconds}s`,
            'if it does not power off by then, a second gate (destroy) asks before the hard power-off',
          ],
          { when: running },
        ),
        change('virsh shutdown', (ctx) => shutdownIfRunning(h, lv(ctx), i.domain), { danger: true, when: running }),
        shutdown,
        gate<Input>(
          'destroy',
          (ctx) => [`${i.domain} did not power off: ${shutdown.value(ctx).says}`, 'virsh destroy is a HARD power-off (like pulling the plug)'],
          {
            when: stillOn,
          },
        ),
        change('virsh destroy', (ctx) => destroyIfRunning(h, lv(ctx), i.domain), { danger: true, when: stillOn }),
        // ---- boot from the ISO ----
        rescue,
        change('define the rescue definition', (ctx) => virsh(h, lv(ctx), ['define', rescuePath(ctx)]), { danger: true }),
        edited,
        logOffset,
        gate<Input>('boot-rescue', (ctx) => {
          const r = rescue.value(ctx);
          const rec = record.value(ctx);
          return [
            `${i.domain} boots the rescue image ${isoPath(ctx)} (${r.bus} ${r.target}, ${r.bootStyle} boot order, cdrom first)`,
            `the rescue system mounts ${i.store} with a key made for this run (${storeKey.value(ctx).key.slice(0, 30)}…, on the drive ${keyIsoPath(ctx)}): approving lets it in as ${i.user}, restricted, for ${Math.round(recoveryWindowSeconds / 60)} min (sshd's expiry-time); the line is removed when the rescue system stops`,
            `backup of ${rec.host} recorded ${rec.recordedAt}, ISO sha256 ${rec.iso.sha256.slice(0, 16)}…, archive ${rec.backup.bytes} bytes sha256 ${rec.backup.sha256.slice(0, 16)}… (checked on the store; the ISO also on ${h})`,
            // From the record (what the ISO was built as), checked against the mode in preflight.
            rec.unattended === true
              ? "the ISO was built for unattended recovery: ReaR's automatic recovery OVERWRITES the disks without asking; the run watches its console log"
              : rec.unattended === false
                ? 'the ISO was built for manual recovery: the run then waits for you to run `rear recover` in its console'
                : `the backup record does not say how the ISO was built (an older record); mode ${i.mode} was asked for`,
          ];
        }),
        change(`let this recovery in on ${i.store}`, (ctx) =>
          remote(
            i.store,
            ['sh', '-c', authorizeRecovery, 'authorize-recovery', i.user, storeKey.value(ctx).key, recoveryComment(ctx), recoveryExpiry(new Date())],
            { sudo: true },
          ),
        ),
        change('virsh start (rescue system)', (ctx) => startIfOff(h, lv(ctx), i.domain), { danger: true }),
        gate<Input>(
          'rear-recover-finished',
          (ctx) => [
            `on ${h}: ${lv(ctx).sudo ? 'sudo ' : ''}${virshArgv(lv(ctx), ['console', i.domain]).join(' ')}   (leave with Ctrl+])`,
            `at the "RESCUE ${hostOf(i)}:~ #" prompt type: rear recover   (and answer its questions)`,
            'when it says it finished, approve this gate; reject it if the recovery failed (either way the original definition is put back)',
          ],
          { when: manual },
        ),
        recovery,
        // ---- back to the disk ----
        change('stop the rescue system', (ctx) => stopWithin(h, lv(ctx), i.domain, i.shutdownTimeoutSeconds)),
        revoked,
        change('restore the original definition', (ctx) => virsh(h, lv(ctx), ['define', savedPath(ctx)])),
        forgetKey('remove the recovery key from the hypervisor'),
        compared,
        change('virsh start (from disk)', (ctx) => startIfOff(h, lv(ctx), i.domain)),
        after,
        controllerCheck,
        answers,
        identity,
      ],
      // The saved definition goes back whatever happened after the save: an edited definition left behind
      // would boot the ISO on every start (with unattended ReaR: recover again, overwriting the disks).
      // The recovery key goes too: its store line (also bounded by its expiry) and its drive.
      cleanup: [
        change('restore the original definition', (ctx) => defineIfSaved(h, lv(ctx), savedPath(ctx))),
        revokeKey('take the recovery key off the store'),
        forgetKey('remove the recovery key from the hypervisor'),
      ],
      output: (ctx) => {
        const rec = record.value(ctx);
        const r = rescue.value(ctx);
        return {
          domain: i.domain,
          uuid: domain.value(ctx).inactive.uuid,
          host: hostOf(i),
          iso: { path: isoPath(ctx), sha256: rec.iso.sha256, recordedAt: rec.recordedAt },
          saved: saved.value(ctx).path,
          rescue: { bus: r.bus, target: r.target, bootStyle: r.bootStyle },
          mode: i.mode,
          recoveryKey: { key: storeKey.value(ctx).key, revoked: revoked.value(ctx) },
          recovery: i.mode === 'manual' ? 'confirmed by the operator at gate rear-recover-finished' : recovery.value(ctx),
          state: after.value(ctx).state,
          controller: controllerCheck?.valueIfRan(ctx),
          ...(identity?.valueIfRan(ctx)
            ? { matches: identityMatch(hostOf(i), rec.identity, identity.value(ctx)), bootId: answers?.valueIfRan(ctx)?.bootId }
            : { matches: controller ? undefined : 'not compared: no controller (inventory name of the recovered machine) given' }),
        };
      },
    };
  },
});
