// rearRecoveryDrill: "any backup which has not been tested to successfully restore … is not worth having".
// A node's latest ReaR backup is recovered into a throwaway copy of its domain on the hypervisor: the
// original is only read (its definition, its disks' sizes), never stopped, edited or started. The copy has
// its own name, UUID, empty disks, serial log and SSH forward; it boots the rescue ISO, `rear recover` runs
// by itself (an unattended ISO) with a store key made and let in for this run only, then the copy boots
// from its recovered disk to the recorded host's login prompt. The copy and its files are removed at the
// end, and in the cleanup whatever happened. No gate: nothing a node runs on is changed.
import { z } from 'zod';
import { remote, stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { activity, change, read, runbook, since, type RunContext } from '../engine/runbook.js';
import { rootKeyRefusal } from './backup-steps.js';
import {
  drillAbsent,
  drillDisks,
  fileSize,
  receiveFile,
  removeDrill,
  scanHostKeys,
  startIfOff,
  stopWithin,
  virsh,
  watchBoot,
  watchRecovery,
} from './libvirt-commands.js';
import { parseIdentity, scannedKeysRefusal } from './identity.js';
import { drillRefusal, editedRefusal, hostOf, isoName, recordRefusal, runFile, shaOf } from './recovery-checks.js';
import { systemUser } from './store.js';
import { recordedBackupSteps } from './recovery-steps.js';
import authorizeRecovery from './scripts/authorize-recovery.sh';
import forgetRecoveryKey from './scripts/forget-recovery-key.sh';
import recoveryKey from './scripts/recovery-key.sh';
import revokeRecovery from './scripts/revoke-recovery.sh';
import type { DomainState, WrittenDrill } from '../../activities/libvirt/libvirt.js';

const domainName = () => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a libvirt domain name (letters, digits, ".", "_", "-")');
const backupBase = () =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'an absolute path (letters, digits, "._-/")')
    .refine((p) => !p.split('/').includes('..') && p !== '/' && !p.endsWith('/'), 'no "..", not "/", no trailing "/"');

export const RearRecoveryDrillInput = () =>
  z
    .strictObject({
      hypervisor: hostName(),
      /** The node's domain: copied, never touched. */
      domain: domainName(),
      store: hostName(),
      /** The node's host name in the backup (ReaR's $HOSTNAME); default: the domain name. */
      host: hostName().optional(),
      storePath: backupBase().default('/data/backup'),
      user: systemUser().default('rear'),
      /** The copy's domain name; default <domain>-drill. */
      name: domainName().optional(),
      /** The host port for the copy's SSH forward, where the original has a user-mode NIC forward. */
      sshPort: z.number().int().min(1024).max(65535).optional(),
      /** A libvirt network (an isolated one) for NICs that would otherwise join the original's network. */
      network: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a libvirt network name')
        .optional(),
      recoverTimeoutSeconds: z.number().int().min(30).max(86400).default(7200),
      bootTimeoutSeconds: z.number().int().min(10).max(7200).default(900),
      /** How long the rescue system may take to stop once ReaR is done (then `virsh destroy`: it is a copy). */
      stopTimeoutSeconds: z.number().int().min(5).max(3600).default(300),
      ...common(),
    })
    .refine((i) => (i.name ?? `${i.domain}-drill`) !== i.domain, { path: ['name'], message: 'the copy must not have the name of the domain it copies' });
type Ctx = RunContext<unknown>;

export const rearRecoveryDrill = runbook({
  name: 'rearRecoveryDrill',
  input: RearRecoveryDrillInput,
  hosts: (i) => [i.hypervisor, i.store],
  // Shared on the store (backups into it go on), nothing exclusive: the node and its hypervisor keep working,
  // and a real recovery is never kept waiting behind a drill.
  leases: (i) => [{ host: i.store, sharedPath: i.storePath }],
  procedure: (i) => {
    const h = i.hypervisor;
    const host = hostOf(i);
    const name = i.name ?? `${i.domain}-drill`;
    const dir = `${i.storePath}/${host}`;

    const settings = read("read the worker's libvirt settings", () => activity('libvirtSettings', undefined));
    const lv = (ctx: Ctx) => settings.value(ctx);
    const tag = (ctx: Ctx): string => `runbooks-drill:${ctx.workflowId.replace(/[^A-Za-z0-9._:-]/g, '_')}`;
    const file = (ctx: Ctx, suffix: string): string => runFile(lv(ctx).isoDir, name, ctx.workflowId, suffix);
    const windowSeconds = i.recoverTimeoutSeconds + 1800;
    const expiry = (now: Date): string => new Date(now.getTime() + windowSeconds * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 12) + 'Z';
    // Every file the drill makes on the hypervisor (the disks are named from the same prefix).
    const made = (ctx: Ctx): string[] => [
      file(ctx, 'iso'),
      file(ctx, 'key.iso'),
      file(ctx, 'xml'),
      file(ctx, 'rescue.xml'),
      `${file(ctx, 'copy')}.serial.log`,
      ...(ctx.hasResult(definition) ? definition.value(ctx).disks.map((d) => d.path) : []),
    ];

    const { recordSignature, record, stored } = recordedBackupSteps(
      i.store,
      dir,
      host,
      isoName(i),
      (r) => drillRefusal(r, name, i.domain) ?? recordRefusal(r, { ...i, mode: 'unattended' }),
    );
    const sha = (ctx: Ctx): string => record.value(ctx).iso.sha256;
    const original = read('read the original domain', (ctx) => activity('readDomain', { hypervisor: h, domain: i.domain, settings: lv(ctx) }), {
      verdict: true,
      expect: (d: DomainState) => (d.inactive.uuid ? undefined : `${i.domain} has no UUID in its definition`),
    });
    const definition = change(
      'write the copy’s definitions',
      (ctx) =>
        activity(
          'writeDrillDefinition',
          {
            hypervisor: h,
            domain: i.domain,
            settings: lv(ctx),
            name,
            prefix: file(ctx, 'copy'),
            description: `${tag(ctx)} (throwaway copy of ${i.domain} for a recovery drill)`,
            sshPort: i.sshPort,
            network: i.network,
            path: file(ctx, 'xml'),
            rescuePath: file(ctx, 'rescue.xml'),
            iso: file(ctx, 'iso'),
            keyIso: file(ctx, 'key.iso'),
          },
          (r) => [
            `worker: virsh dumpxml --inactive ${r.domain} → ${r.name}: new name and UUID, empty disks ${r.prefix}.<target>.qcow2, no cdroms, new MACs, serial log ${r.prefix}.serial.log → ${r.hypervisor}:${r.path}`,
            `worker: the same with cdrom ${r.iso} booted first and ${r.keyIso} (the recovery key), on_reboot destroy → ${r.hypervisor}:${r.rescuePath}`,
          ],
        ),
      { expect: (d: WrittenDrill, ctx) => (d.uuid === original.value(ctx).inactive.uuid ? 'the copy has the UUID of the original' : undefined) },
    );
    const storeKey = change(
      'make a store key for this drill',
      (ctx) => remote(h, ['sh', '-c', recoveryKey, 'recovery-key', file(ctx, 'key.iso'), tag(ctx)], { sudo: lv(ctx).sudo }),
      { parse: (r) => ({ key: stdoutOf(r).trim() }), expect: (k) => rootKeyRefusal(h, k) },
    );
    const edited = read(
      'check the copy boots the ISO',
      (ctx) =>
        activity('readDomain', { hypervisor: h, domain: name, settings: lv(ctx), native: true }, (r) => [
          `${r.hypervisor}$ virsh dumpxml --inactive ${r.domain}; virsh domxml-to-native qemu-argv --domain ${r.domain} (which drive holds bootindex=1)`,
        ]),
      { expect: (d: DomainState, ctx) => editedRefusal(d, name, file(ctx, 'iso')) },
    );
    const serialLog = (ctx: Ctx): string => definition.value(ctx).serialLog;
    const recoveredAt = read('note the serial log size', (ctx) => fileSize(h, lv(ctx), serialLog(ctx)), { parse: (r) => Number(stdoutOf(r).trim()) || 0 });
    const bootedAt = read('note the serial log size before the first boot', (ctx) => fileSize(h, lv(ctx), serialLog(ctx)), {
      parse: (r) => Number(stdoutOf(r).trim()) || 0,
    });
    const revoke = (what: string) =>
      change(what, (ctx) => remote(i.store, ['sh', '-c', revokeRecovery, 'revoke-recovery', i.user, tag(ctx)], { sudo: true }), {
        parse: (r) => Number(stdoutOf(r).trim()) || 0,
      });
    const forget = (what: string) =>
      change(what, (ctx) => remote(h, ['sh', '-c', forgetRecoveryKey, 'forget-recovery-key', file(ctx, 'key.iso')], { sudo: lv(ctx).sudo }));
    const remove = (what: string) => change(what, (ctx) => removeDrill(h, lv(ctx), name, tag(ctx), made(ctx)), { parse: (r) => stdoutOf(r).trim() });
    const recovery = read('watch the recovery', (ctx) => watchRecovery(h, lv(ctx), name, serialLog(ctx), recoveredAt.value(ctx), i.recoverTimeoutSeconds), {
      timeout: `${i.recoverTimeoutSeconds + 300} seconds`,
      parse: (r) => stdoutOf(r).trim(),
    });
    const boot = read(
      'watch the first boot',
      (ctx) => watchBoot(h, lv(ctx), name, serialLog(ctx), bootedAt.value(ctx), i.bootTimeoutSeconds, record.value(ctx).host),
      { timeout: `${i.bootTimeoutSeconds + 300} seconds`, parse: (r) => stdoutOf(r).trim() },
    );
    const sshPort = i.sshPort;
    // The copy has no login for us: through its forward, the keys its sshd offers must be the recorded ones.
    const keys = sshPort
      ? read("compare the copy's host keys with the record", () => scanHostKeys(h, sshPort, i.bootTimeoutSeconds), {
          when: since('rear-drill-host-keys', 'the run compares host keys'),
          verdict: true,
          parse: (r) => parseIdentity(stdoutOf(r)).hostKeys,
          expect: (k, ctx) => scannedKeysRefusal(name, record.value(ctx).identity, k),
        })
      : undefined;
    const untouched = read('check the original is untouched', (ctx) => activity('readDomain', { hypervisor: h, domain: i.domain, settings: lv(ctx) }), {
      expect: (d: DomainState, ctx) => {
        const before = original.value(ctx);
        if (d.inactive.uuid !== before.inactive.uuid || d.inactive.firstBoot !== before.inactive.firstBoot)
          return `${i.domain}'s definition changed during the drill (UUID or boot order)`;
        return d.state === before.state ? undefined : `${i.domain} was ${before.state} and is now ${d.state}`;
      },
    });
    const revoked = revoke('take the drill key off the store');
    const removed = remove('remove the copy');

    return {
      steps: [
        // ---- preflight (read-only) ----
        settings,
        recordSignature,
        record,
        stored,
        original,
        read('check the copy’s name is free', (ctx) => drillAbsent(h, lv(ctx), name, tag(ctx)), {
          verdict: true,
          parse: (r) => stdoutOf(r).trim(),
          expect: (r) => (r === 'taken' ? `name: a domain named ${name} exists on ${h} and is not this drill's: choose another name` : undefined),
        }),
        // ---- the copy, next to the original ----
        change(
          'copy the ISO to the hypervisor',
          (ctx) =>
            activity('pipeCommands', {
              from: remote(i.store, ['cat', '--', `${dir}/${isoName(i)}`], { sudo: true }),
              to: receiveFile(h, lv(ctx), file(ctx, 'iso')),
              step: 'copy the ISO to the hypervisor',
            }),
          {
            timeout: '2 hours',
            expect: (p: { sha256: string }, ctx) => (p.sha256 === sha(ctx) ? undefined : `the copy's sha256 ${p.sha256.slice(0, 12)}… is not the record's`),
          },
        ),
        read('verify the ISO on the hypervisor', (ctx) => remote(h, ['sha256sum', '--', file(ctx, 'iso')], { sudo: lv(ctx).sudo, timeoutSeconds: 1800 }), {
          parse: (r) => shaOf(stdoutOf(r)),
          expect: (got, ctx) => (got === sha(ctx) ? undefined : `the ISO on ${h} has sha256 ${got.slice(0, 12)}…, not the record's ${sha(ctx).slice(0, 12)}…`),
        }),
        storeKey,
        definition,
        change('create the copy’s disks', (ctx) => drillDisks(h, lv(ctx), definition.value(ctx).disks)),
        change('define the copy (rescue boot)', (ctx) => virsh(h, lv(ctx), ['define', definition.value(ctx).rescuePath])),
        edited,
        recoveredAt,
        // ---- recover into it ----
        change(`let this drill in on ${i.store}`, (ctx) =>
          remote(i.store, ['sh', '-c', authorizeRecovery, 'authorize-recovery', i.user, storeKey.value(ctx).key, tag(ctx), expiry(new Date())], { sudo: true }),
        ),
        change('virsh start (the copy, rescue system)', (ctx) => startIfOff(h, lv(ctx), name)),
        recovery,
        change('stop the rescue system', (ctx) => stopWithin(h, lv(ctx), name, i.stopTimeoutSeconds)),
        revoked,
        forget('remove the drill key from the hypervisor'),
        // ---- boot it from its disk ----
        change('define the copy (from disk)', (ctx) => virsh(h, lv(ctx), ['define', definition.value(ctx).path])),
        bootedAt,
        change('virsh start (the copy, from disk)', (ctx) => startIfOff(h, lv(ctx), name)),
        boot,
        keys,
        untouched,
        removed,
      ],
      // Whatever happened: no copy left running (it would be a second machine with the node's identity),
      // no key let in on the store, no recovered disk on the hypervisor.
      cleanup: [revoke('take the drill key off the store'), remove('remove the copy'), forget('remove the drill key from the hypervisor')],
      output: (ctx) => {
        const rec = record.value(ctx);
        return {
          domain: i.domain,
          copy: { name, uuid: definition.value(ctx).uuid, disks: definition.value(ctx).disks },
          host: rec.host,
          backup: { recordedAt: rec.recordedAt, iso: rec.iso.sha256, archive: rec.backup.sha256, bytes: rec.backup.bytes },
          recovery: recovery.value(ctx),
          boot: boot.value(ctx),
          hostKeys: keys?.valueIfRan(ctx)?.length
            ? { offered: keys.value(ctx).length, recorded: rec.identity ? 'all recorded' : 'not compared: an older record' }
            : undefined,
          keyRevoked: revoked.value(ctx),
          removed: removed.value(ctx),
        };
      },
    };
  },
});
