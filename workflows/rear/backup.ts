// rearBackup: the ReaR seed's step 2 ("Run the backup from the Overcloud nodes") per node, without its
// password: install/verify rear and its tools, give root a key the store's backup user accepts, render
// /etc/rear/local.conf from validated input, check it with `rear dump` and `rear -s mkbackup`, run
// `rear -v mkbackup` (rescue ISO uploaded with sftp, backup.tar.gz written through sshfs), then verify on the
// store that rear-<node>.iso and backup.tar.gz are there, and record their sha256 and sizes next to them in
// runbook-record.json (the record rearControllerRecovery reads). Nodes run one at a time, in the order given:
// an HA control plane never has two controllers busy at once, and the operator chooses which comes first.
import { workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import type { PinnedHostKey } from '../../activities/ssh/known-hosts.js';
import { remote, stdoutOf, type CommandResult } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { BOOTLOADERS, excludePattern, includePath, kernelVersion, renderLocalConf, type RearConfig } from './config.js';
import { storePath, systemUser } from './prepare-store.js';
import { call, runbook, step, type Entry, type RunContext } from '../engine/runbook.js';

export const RearBackupInput = () =>
  z.strictObject({
    /** Controllers in the order they are backed up, one at a time (see the README: bootstrap node last). */
    nodes: z
      .array(hostName())
      .min(1)
      .max(32)
      .refine((n) => new Set(n).size === n.length, 'no node twice'),
    store: hostName(),
    user: systemUser().default('backup'),
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
    ...common(),
  });
type Input = z.infer<ReturnType<typeof RearBackupInput>>;
type Ctx = RunContext<Input>;

/** rear itself, cpio (rear needs it, Debian's package does not say so), xorriso (ISO), lftp (sftp), sshfs. */
export const REAR_PACKAGES = ['rear', 'cpio', 'xorriso', 'isolinux', 'lftp', 'sshfs'];

export interface StoredFile {
  file: string;
  sha256: string;
  bytes: number;
}

/** The backup record: <path>/<node>/runbook-record.json on the store (format shared with rearControllerRecovery). */
export interface BackupRecord {
  host: string;
  iso: StoredFile;
  backup: StoredFile;
  rearVersion: string;
  recordedAt: string;
  workflowId: string;
  runId: string;
}

const nodeDir = (i: Input, node: string): string => `${i.path}/${node}`;
const pinned = (ctx: Ctx): PinnedHostKey => ctx.get<PinnedHostKey>('store host key');
const knownHostsLine = (k: PinnedHostKey): string => `${k.port === 22 ? k.host : `[${k.host}]:${k.port}`} ${k.key}`;

const config = (ctx: Ctx, node: string): RearConfig => ({
  node,
  store: ctx.input.store,
  storePort: pinned(ctx).port,
  user: ctx.input.user,
  path: ctx.input.path,
  exclude: ctx.input.exclude,
  includeOnly: ctx.input.includeOnly,
  unattended: ctx.input.unattended,
  rescueKernel: ctx.input.rescueKernel,
  bootloader: ctx.input.bootloader,
  workflowId: ctx.workflowId,
});

const CHECK_TOOLS = 'for p in "$@"; do dpkg-query -W -f "\\${Status}\\n" "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done';

/** root's own key (made once, no passphrase: ReaR runs unattended), printed as "<type> <base64>". */
const ROOT_KEY = [
  'h=$(getent passwd root | cut -d: -f6)',
  'install -d -m 0700 "$h/.ssh"',
  '[ -f "$h/.ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "root@$(hostname)" -f "$h/.ssh/id_ed25519"',
  'cut -d" " -f1,2 "$h/.ssh/id_ed25519.pub"',
  '[ -s "$h/.ssh/authorized_keys" ] && echo rescue-ssh || echo no-rescue-ssh',
].join('\n');

const TRUST = 'h=$(getent passwd root | cut -d: -f6); grep -qxF "$1" "$h/.ssh/known_hosts" 2>/dev/null || printf "%s\\n" "$1" >> "$h/.ssh/known_hosts"';

/** Appends the node's key for the backup user ("restrict": no pty, no forwarding; sftp still works). */
const AUTHORIZE = [
  'h=$(getent passwd "$1" | cut -d: -f6)',
  '[ -n "$h" ] || { echo "no user $1 on the store: run rearPrepareStore first" >&2; exit 1; }',
  'install -d -o "$1" -g "$1" -m 0700 "$h/.ssh"',
  'grep -qF " $2" "$h/.ssh/authorized_keys" 2>/dev/null || printf "restrict %s %s\\n" "$2" "$3" >> "$h/.ssh/authorized_keys"',
  'chown "$1:$1" "$h/.ssh/authorized_keys" && chmod 0600 "$h/.ssh/authorized_keys"',
  'install -d -o "$1" -g "$1" -m 0750 "$4"',
].join('\n');

/** Size and sha256 of each file, computed on the store after the upload; "missing <file>" otherwise. */
const MEASURE =
  'cd "$1" || exit 1; shift; for f in "$@"; do if [ -s "$f" ]; then echo "$f $(stat -c %s "$f") $(sha256sum < "$f" | cut -d" " -f1)"; else echo "missing $f"; fi; done';

function parseMeasure(text: string): Record<string, StoredFile | undefined> {
  const out: Record<string, StoredFile | undefined> = {};
  for (const line of text.trim().split('\n')) {
    const [a = '', b = '', c = ''] = line.split(' ');
    if (a !== 'missing') out[a] = { file: a, bytes: Number(b), sha256: c };
  }
  return out;
}

function perNode(i: Input, node: string): Entry<Input>[] {
  const at = (what: string): string => `${node}: ${what}`;
  const iso = `rear-${node}.iso`;
  return [
    step(at('check rear and its tools'), () => remote(node, ['sh', '-c', CHECK_TOOLS, 'check-tools', ...REAR_PACKAGES]), {
      idempotent: true,
      readOnly: true,
      as: at('missing'),
      parse: (r) => stdoutOf(r).split('\n').filter(Boolean),
    }),
    step(
      at('install rear and its tools'),
      (ctx) =>
        remote(node, ['apt-get', 'install', '-y', '--no-install-recommends', ...ctx.get<string[]>(at('missing'))], {
          sudo: true,
          env: { DEBIAN_FRONTEND: 'noninteractive' },
          timeoutSeconds: 1800,
        }),
      {
        idempotent: true,
        when: (ctx) => ctx.get<string[]>(at('missing')).length > 0,
      },
    ),
    step(at("root's key for the store"), () => remote(node, ['sh', '-c', ROOT_KEY, 'root-key'], { sudo: true }), {
      idempotent: true,
      as: at('key'),
      parse: (r) => {
        const [key = '', rescue = ''] = stdoutOf(r).trim().split('\n');
        return { key, rescueSsh: rescue === 'rescue-ssh' };
      },
      expect: (v) => (/^ssh-ed25519 [A-Za-z0-9+/]+=*$/.test((v as { key: string }).key) ? undefined : `no public key read from ${node}`),
    }),
    step(at("trust the store's pinned host key"), (ctx) => remote(node, ['sh', '-c', TRUST, 'trust', knownHostsLine(pinned(ctx))], { sudo: true }), {
      idempotent: true,
    }),
    step(
      at(`let it in as ${i.user} on ${i.store}`),
      (ctx) =>
        remote(i.store, ['sh', '-c', AUTHORIZE, 'authorize', i.user, ctx.get<{ key: string }>(at('key')).key, `root@${node}`, nodeDir(i, node)], {
          sudo: true,
        }),
      { idempotent: true },
    ),
    step(
      at('render /etc/rear/local.conf'),
      (ctx) => remote(node, ['install', '-D', '-m', '0600', '/dev/stdin', '/etc/rear/local.conf'], { sudo: true, stdin: renderLocalConf(config(ctx, node)) }),
      { idempotent: true },
    ),
    step(at('rear dump'), () => [remote(node, ['rear', 'dump'], { sudo: true, timeoutSeconds: 300 }), remote(node, ['rear', '-V'], { sudo: true })], {
      idempotent: true,
      readOnly: true,
      as: at('dump'),
      parse: (r: CommandResult[]) => ({
        urls: (r[0]?.stdoutTail ?? '')
          .split('\n')
          .filter((l) => /^\s*(BACKUP_URL|OUTPUT_URL)=/.test(l))
          .map((l) => l.trim()),
        version: /Relax-and-Recover (\S+)/.exec(r[1]?.stdoutTail ?? '')?.[1] ?? 'unknown',
      }),
      // The configuration ReaR really reads names our store: no other local.conf or site.conf overrides it.
      expect: (v) => {
        const urls = (v as { urls: string[] }).urls.join(' ');
        return urls.includes(`@${i.store}${i.path}/`) ? undefined : `rear dump does not show the store's URLs: ${urls || '(none)'}`;
      },
    }),
    step(at('rear -s mkbackup (simulation)'), () => remote(node, ['rear', '-s', 'mkbackup'], { sudo: true, timeoutSeconds: 300 }), {
      idempotent: true,
      readOnly: true,
    }),
    step(at('cluster maintenance mode on'), () => remote(node, ['pcs', 'property', 'set', 'maintenance-mode=true'], { sudo: true }), {
      idempotent: true,
      when: () => i.clusterMaintenance,
    }),
    // One-shot: it replaces the previous ISO and backup on the store. Heartbeats carry its last output line.
    step(at('rear -v mkbackup'), () => remote(node, ['rear', '-v', 'mkbackup'], { sudo: true, timeoutSeconds: 4 * 3600 }), {
      idempotent: false,
      timeout: '5 hours',
    }),
    step(at('cluster maintenance mode off'), () => remote(node, ['pcs', 'property', 'set', 'maintenance-mode=false'], { sudo: true }), {
      idempotent: true,
      when: () => i.clusterMaintenance,
    }),
    step(
      at(`verify the ISO and backup on ${i.store}`),
      () => remote(i.store, ['sh', '-c', MEASURE, 'measure', nodeDir(i, node), iso, 'backup.tar.gz'], { sudo: true, timeoutSeconds: 3600 }),
      {
        idempotent: true,
        readOnly: true,
        verdict: true,
        as: at('files'),
        parse: (r) => parseMeasure(stdoutOf(r)),
        expect: (v) => {
          const f = v as Record<string, StoredFile | undefined>;
          const missing = [iso, 'backup.tar.gz'].filter((n) => !f[n]);
          return missing.length ? `${missing.join(' and ')} missing or empty in ${i.store}:${nodeDir(i, node)}` : undefined;
        },
      },
    ),
    step(
      at(`record the backup on ${i.store}`),
      (ctx) =>
        remote(i.store, ['install', '-o', i.user, '-g', i.user, '-m', '0640', '/dev/stdin', `${nodeDir(i, node)}/runbook-record.json`], {
          sudo: true,
          stdin: `${JSON.stringify(record(ctx, node))}\n`,
        }),
      {
        idempotent: true,
        as: at('record'),
        parse: (_r, ctx) => record(ctx, node),
      },
    ),
  ];
}

/** Same object on the store and in the output; recordedAt is when the files were measured (workflow time). */
function record(ctx: Ctx, node: string): BackupRecord {
  const files = ctx.get<Record<string, StoredFile>>(`${node}: files`);
  return {
    host: node,
    iso: files[`rear-${node}.iso`]!,
    backup: files['backup.tar.gz']!,
    rearVersion: ctx.get<{ version: string }>(`${node}: dump`).version,
    recordedAt: recordedAt(ctx, node),
    workflowId: ctx.workflowId,
    runId: workflowInfo().runId,
  };
}

const recordedAt = (ctx: Ctx, node: string): string => {
  const key = `${node}: recordedAt`;
  // Fixed the first time it is asked for, so the file and the output carry the same instant.
  if (!(key in ctx.results)) ctx.results[key] = new Date().toISOString();
  return ctx.results[key] as string;
};

export const rearBackup = runbook({
  name: 'rearBackup',
  input: RearBackupInput,
  hosts: (i) => [...i.nodes, i.store],
  leases: (i) => [...i.nodes, i.store],
  steps: (i) => [
    call<Input>(
      "read the store's pinned host key",
      'pinnedHostKey',
      () => ({ host: i.store }),
      () => [`worker: the inventory's host key of ${i.store}`],
      {
        idempotent: true,
        readOnly: true,
        as: 'store host key',
      },
    ),
    ...i.nodes.flatMap((n) => perNode(i, n)),
  ],
  cleanup: (i) =>
    i.clusterMaintenance
      ? i.nodes.map((n) =>
          step<Input>(`${n}: cluster maintenance mode off`, () => remote(n, ['pcs', 'property', 'set', 'maintenance-mode=false'], { sudo: true }), {
            idempotent: true,
          }),
        )
      : [],
  output: (ctx) => ({
    store: ctx.input.store,
    path: ctx.input.path,
    records: ctx.input.nodes.map((n) => ctx.get<BackupRecord>(`${n}: record`)),
    rescueSsh: Object.fromEntries(ctx.input.nodes.map((n) => [n, ctx.get<{ rescueSsh: boolean }>(`${n}: key`).rescueSsh])),
  }),
});
