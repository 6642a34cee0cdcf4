// rearBackup: the ReaR seed's step 2 ("Run the backup from the Overcloud nodes") per node, without its
// password: install/verify rear and its tools, give root a key the store's backup user accepts, render
// /etc/rear/local.conf from validated input, check it with `rear dump` and `rear -s mkbackup`, run
// `rear -v mkbackup` (rescue ISO uploaded with sftp, backup.tar.gz written through sshfs), then verify on the
// store that rear-<node>.iso and backup.tar.gz are there, and record their sha256 and sizes next to them in
// runbook-record.json (the record rearControllerRecovery reads). Nodes run one at a time, in the order given:
// an HA control plane never has two controllers busy at once, and the operator chooses which comes first.
import { z } from 'zod';
import type { PinnedHostKey } from '../../activities/ssh/known-hosts.js';
import { remote, stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { activity, change, gate, once, onlyIf, read, runbook, since, type Entry, type RunContext, type Step } from '../engine/runbook.js';
import {
  BACKUP_ARCHIVE,
  backupRecord,
  dumpRefusal,
  installCommands,
  isoOf,
  keptDir,
  knownHostsLine,
  measuredRefusal,
  nodeDir,
  parseChecklayout,
  parseChecks,
  parseDump,
  parseMeasure,
  parsePrevious,
  parseRootKey,
  parseStoreAddress,
  parseTools,
  REAR_PACKAGES,
  REAR_PACKAGES_RHEL,
  rearConfig,
  rootKeyRefusal,
  toolsRefusal,
  type BackupRecord,
} from './backup-steps.js';
import { BOOTLOADERS, excludePattern, includePath, kernelVersion, renderLocalConf } from './config.js';
import authorizeNode from './scripts/authorize-node.sh';
import checkTools from './scripts/check-tools.sh';
import checklayout from './scripts/checklayout.sh';
import keepPrevious from './scripts/keep-previous.sh';
import measure from './scripts/measure.sh';
import previousBackup from './scripts/previous-backup.sh';
import pruneKept from './scripts/prune-kept.sh';
import storeAddress from './scripts/store-address.sh';
import rootKey from './scripts/root-key.sh';
import trustStore from './scripts/trust-store.sh';
import { storePath, systemUser } from './store.js';
import { DEFAULT_VERIFY_FILES, identityReadRefusal, parseIdentity, verifyPath, type MachineIdentity } from './identity.js';
import identityScript from './scripts/identity.sh';

export const RearBackupInput = () =>
  z.strictObject({
    /** Controllers in the order they are backed up, one at a time (see the README: bootstrap node last). */
    nodes: z
      .array(hostName())
      .min(1)
      .max(32)
      .refine((n) => new Set(n).size === n.length, 'no node twice'),
    store: hostName(),
    user: systemUser().default('rear'),
    path: storePath().default('/data/backup'),
    output: z.literal('ISO').default('ISO'),
    backup: z.literal('NETFS').default('NETFS'),
    /** Added to ReaR's BACKUP_PROG_EXCLUDE (which already has /tmp/* and /var/tmp/*). */
    exclude: z.array(excludePattern()).max(100).default([]),
    /** Only these paths go into backup.tar.gz (BACKUP_ONLY_INCLUDE). Default: the whole system, as ReaR decides. */
    includeOnly: z.array(includePath()).min(1).max(100).optional(),
    /** Boot the ISO straight into `rear recover` and reboot (BIOS only). Off by default: the recovery-loop trap. */
    unattended: z.boolean().default(false),
    /** Kernel for the rescue system (KERNEL_FILE /boot/vmlinuz-<v>); default: ReaR's autodetection. */
    rescueKernel: kernelVersion().optional(),
    /** BOOTLOADER for `rear recover`; default: ReaR's autodetection from the boot disk. */
    bootloader: z.enum(BOOTLOADERS).optional(),
    /** Pacemaker maintenance mode (pcs) around each node's mkbackup, so no resource moves while it is busy. */
    clusterMaintenance: z.boolean().default(false),
    /** Earlier backups kept per node in <path>/<node>.kept/ (the one a new mkbackup replaces, and older). */
    keep: z.number().int().min(1).max(10).default(1),
    /** `rear checklayout` before mkbackup (ReaR's workflow step 1): "report" puts identical/changed/unknown in the output and gate. */
    checklayout: z.enum(['report', 'skip']).default('report'),
    /** Files whose sha256 goes into the signed record, with the node's machine-id and host keys: rearControllerRecovery compares them on the recovered machine. */
    verifyFiles: z
      .array(verifyPath())
      .max(50)
      .refine((f) => new Set(f).size === f.length, 'no file twice')
      .default(DEFAULT_VERIFY_FILES),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof RearBackupInput>>;
type StoreKey = Step<Input, PinnedHostKey>;

const identityLine = (id?: MachineIdentity): string[] =>
  id
    ? [
        `recorded for the recovery to match: host ${id.hostname}, machine-id ${id.machineId}, ${id.hostKeys.length} host key(s), sha256 of ${Object.keys(id.files).length} file(s)`,
      ]
    : [];

const maintenance = (node: string, on: boolean) => remote(node, ['pcs', 'property', 'set', `maintenance-mode=${on}`], { sudo: true });

/** One node's backup, start to record; returns its steps and the handles the output reads. */
function nodeBackup(i: Input, node: string, storeKey: StoreKey) {
  const at = (what: string): string => `${node}: ${what}`;
  const dir = nodeDir(i, node);
  const inCluster = onlyIf<Input>('the run puts the cluster in maintenance mode', () => i.clusterMaintenance);

  const tools = read(
    at('check rear and its tools'),
    () => remote(node, ['sh', '-c', checkTools, 'check-tools', ...REAR_PACKAGES, '--', ...REAR_PACKAGES_RHEL]),
    { verdict: true, parse: (r) => parseTools(stdoutOf(r)), expect: (t) => toolsRefusal(node, t, i.unattended) },
  );
  const address = read(at(`how it resolves ${i.store}`), () => remote(node, ['sh', '-c', storeAddress, 'store-address', i.store]), {
    parse: (r) => parseStoreAddress(stdoutOf(r)),
  });
  const layout = read(at('rear checklayout'), () => remote(node, ['sh', '-c', checklayout, 'checklayout'], { sudo: true, timeoutSeconds: 1800 }), {
    when: onlyIf('the run checks the layout', () => i.checklayout === 'report'),
    parse: (r) => parseChecklayout(stdoutOf(r)),
  });
  const kept = keptDir(i, node);
  const previous = read(
    at(`read the previous backup on ${i.store}`),
    () => remote(i.store, ['sh', '-c', previousBackup, 'previous-backup', dir, isoOf(node), BACKUP_ARCHIVE], { sudo: true }),
    { parse: (r) => parsePrevious(stdoutOf(r)) },
  );
  // Read before the gate, while nothing has moved on the store: a node that cannot be recognised later is
  // refused with its previous backup still in place.
  const recordsIdentity = since<Input>('rear-backup-identity', 'the run records the identity');
  const pinned = read(at('read its pinned host key'), () => activity('pinnedHostKey', { host: node }), { when: recordsIdentity });
  const identity = read(
    at('note what the recovered machine must match'),
    () => remote(node, ['sh', '-c', identityScript, 'identity', ...i.verifyFiles], { sudo: true, timeoutSeconds: 600 }),
    {
      when: recordsIdentity,
      verdict: true,
      parse: (r, ctx) => ({ ...parseIdentity(stdoutOf(r)), sshKey: pinned.value(ctx).key }),
      expect: (id) => identityReadRefusal(node, id),
    },
  );
  const hasPrevious = onlyIf<Input>(`${i.store}:${dir} holds a previous backup`, (ctx) => previous.value(ctx).files.length > 0);
  const key = change(at("root's key for the store"), () => remote(node, ['sh', '-c', rootKey, 'root-key'], { sudo: true }), {
    parse: (r) => parseRootKey(stdoutOf(r)),
    expect: (k) => rootKeyRefusal(node, k),
  });
  const dump = read(
    at('rear dump'),
    () => [remote(node, ['rear', 'dump'], { sudo: true, timeoutSeconds: 1800 }), remote(node, ['rear', '-V'], { sudo: true })],
    {
      parse: parseDump,
      expect: (d) => dumpRefusal(i, d),
    },
  );
  const files = read(
    at(`verify the ISO and backup on ${i.store}`),
    () => remote(i.store, ['sh', '-c', measure, 'measure', dir, isoOf(node), BACKUP_ARCHIVE], { sudo: true, timeoutSeconds: 3600 }),
    {
      verdict: true,
      parse: (r) => ({ files: parseMeasure(stdoutOf(r)), checks: parseChecks(stdoutOf(r)), at: r[0]!.startedAt }),
      expect: (m) => measuredRefusal(i.store, dir, node, m),
    },
  );
  const recordOf = (ctx: RunContext<unknown>): BackupRecord =>
    backupRecord(node, files.value(ctx), dump.value(ctx).version, ctx, i.unattended, identity.valueIfRan(ctx));
  const signed = read(at('sign the backup record'), (ctx) => activity('signBackupRecord', { record: { ...recordOf(ctx) } }));
  // The signature first: a record is never on the store without one.
  const record = change(
    at(`record the backup on ${i.store}`),
    (ctx) =>
      ['runbook-record.json.sig', 'runbook-record.json'].map((file, k) =>
        remote(i.store, ['install', '-o', i.user, '-g', i.user, '-m', '0640', '/dev/stdin', `${dir}/${file}`], {
          sudo: true,
          stdin: k === 0 ? signed.value(ctx).signature : signed.value(ctx).text,
        }),
      ),
    { parse: (_r, ctx) => recordOf(ctx) },
  );

  const steps: Entry<Input>[] = [
    tools,
    change(
      at('install rear and its tools'),
      // apt-get on Debian; dnf or yum (and the seed's SELinux boolean) on RHEL-family nodes.
      (ctx) => installCommands(tools.value(ctx)).map((c) => remote(node, c.argv, { sudo: true, env: c.env, timeoutSeconds: 1800 })),
      { when: onlyIf('a package is missing', (ctx) => tools.value(ctx).missing.length > 0) },
    ),
    key,
    change(at("trust the store's pinned host key"), (ctx) =>
      remote(node, ['sh', '-c', trustStore, 'trust', knownHostsLine(storeKey.value(ctx))], { sudo: true }),
    ),
    change(at(`let it in as ${i.user} on ${i.store}`), (ctx) =>
      remote(i.store, ['sh', '-c', authorizeNode, 'authorize', i.user, key.value(ctx).key, `root@${node}`, dir], { sudo: true }),
    ),
    address,
    change(at('render /etc/rear/local.conf'), (ctx) =>
      remote(node, ['install', '-D', '-m', '0600', '/dev/stdin', '/etc/rear/local.conf'], {
        sudo: true,
        stdin: renderLocalConf(
          rearConfig(i, node, storeKey.value(ctx).port, ctx.workflowId, address.value(ctx).inHosts ? undefined : address.value(ctx).address),
        ),
      }),
    ),
    dump,
    read(at('rear -s mkbackup (simulation)'), () => remote(node, ['rear', '-s', 'mkbackup'], { sudo: true, timeoutSeconds: 1800 })),
    layout,
    pinned,
    identity,
    previous,
    // mkbackup writes the same file names: the last good backup is moved aside first, never overwritten.
    gate<Input>(
      `mkbackup-${node}`,
      (ctx) => {
        const p = previous.value(ctx);
        return [
          `${i.store}:${dir} holds the previous backup of ${node} (${p.files.join(', ')}; recorded ${p.recordedAt ?? 'without a record'}, archive sha256 ${p.backupSha?.slice(0, 16) ?? '?'}…)`,
          `it moves to ${kept}/<its date>/ before rear -v mkbackup; at most ${i.keep} kept backup(s) stay, pruned only after the new one is verified and recorded`,
          `rear checklayout: ${layout.valueIfRan(ctx) ?? 'not run'}`,
          ...identityLine(identity.valueIfRan(ctx)),
        ];
      },
      { when: hasPrevious },
    ),
    change(
      at(`keep the previous backup in ${kept}`),
      () => remote(i.store, ['sh', '-c', keepPrevious, 'keep-previous', dir, kept, isoOf(node), BACKUP_ARCHIVE], { sudo: true }),
      {
        when: hasPrevious,
        parse: (r) => stdoutOf(r).trim(),
      },
    ),
    change(at('cluster maintenance mode on'), () => maintenance(node, true), { when: inCluster }),
    // One-shot: it writes the ISO and backup on the store (the previous ones are kept aside). Heartbeats carry its last output line.
    once(at('rear -v mkbackup'), () => remote(node, ['rear', '-v', 'mkbackup'], { sudo: true, timeoutSeconds: 4 * 3600 }), { timeout: '5 hours' }),
    change(at('cluster maintenance mode off'), () => maintenance(node, false), { when: inCluster }),
    files,
    signed,
    record,
    change(at(`prune kept backups beyond ${i.keep}`), () => remote(i.store, ['sh', '-c', pruneKept, 'prune-kept', kept, String(i.keep)], { sudo: true }), {
      when: hasPrevious,
      parse: (r) => stdoutOf(r).trim(),
    }),
  ];
  return { steps, record, key, layout };
}

export const rearBackup = runbook({
  name: 'rearBackup',
  input: RearBackupInput,
  hosts: (i) => [...i.nodes, i.store],
  leases: (i) => [...i.nodes, { host: i.store, sharedPath: i.path }],
  procedure: (i) => {
    const storeKey = read("read the store's pinned host key", () => activity('pinnedHostKey', { host: i.store }));
    const nodes = i.nodes.map((n) => ({ node: n, ...nodeBackup(i, n, storeKey) }));
    return {
      steps: [storeKey, ...nodes.flatMap((n) => n.steps)],
      cleanup: i.clusterMaintenance ? i.nodes.map((n) => change(`${n}: cluster maintenance mode off`, () => maintenance(n, false))) : [],
      output: (ctx) => ({
        store: i.store,
        path: i.path,
        records: nodes.map((n) => n.record.value(ctx)),
        rescueSsh: Object.fromEntries(nodes.map((n) => [n.node, n.key.value(ctx).rescueSsh])),
        layout: Object.fromEntries(nodes.map((n) => [n.node, n.layout.valueIfRan(ctx) ?? 'not checked'])),
      }),
    };
  },
});
