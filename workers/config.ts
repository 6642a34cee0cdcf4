// Worker configuration: one YAML file (RUNBOOK_CONFIG, default workers/runbooks.yaml) plus environment
// overrides. Approval policies live here, on the operators' side, never in a run's input.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import type { GatePolicy, RunbookPolicy } from '../workflows/engine/policy.js';

const duration = z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d|seconds?|minutes?|hours?|days?)$/, 'a duration like "30m" or "24h"');

const GatePolicySchema = z.object({
  approvers: z.array(z.string().min(1)).min(1),
  quorum: z.number().int().min(1),
  fourEyes: z.boolean(),
  timeout: duration,
  onTimeout: z.enum(['reject', 'keep-waiting']),
  remindEvery: duration,
  allowUnverifiedApprovers: z.boolean().optional(), // false unless set: see policyFor
});
const PartialGatePolicy = GatePolicySchema.partial();

/**
 * virt-sysprep on the image host (openstackClone/Move/Rename). `env` is its environment: the CERN page runs
 * it with LIBGUESTFS_BACKEND=direct; a host without working KVM also needs
 * LIBGUESTFS_BACKEND_SETTINGS=force_tcg (RUNBOOK_LIBGUESTFS_ENV="K=V,K=V" overrides). `deletePaths` are the
 * site's extra `--delete` files (CERN: /etc/krb5.keytab, /var/lib/cern-private-cloud-addons/state).
 */
const SYSPREP_DEFAULTS = { env: { LIBGUESTFS_BACKEND: 'direct' }, deletePaths: [] as string[], timeoutSeconds: 3600 };
const OpenstackSysprep = z.object({
  env: z.record(z.string().regex(/^LIBGUESTFS_[A-Z_]+$/, 'a LIBGUESTFS_* variable'), z.string().regex(/^[A-Za-z0-9_.,:=/-]*$/)).default(SYSPREP_DEFAULTS.env),
  deletePaths: z.array(z.string().regex(/^\/[A-Za-z0-9._/-]+$/, 'an absolute path in the guest')).default([]),
  timeoutSeconds: z.number().int().positive().default(3600),
});
/**
 * The DNS wait of a move that keeps the name (CERN: "wait for 15 minutes or so until the DNS entry has
 * expired. Check this with the 'host' command"). servers empty: the worker's resolv.conf; domain: appended
 * to the server name for the lookup.
 */
const DNS_DEFAULTS = { servers: [] as string[], domain: null, timeoutSeconds: 3600, pollSeconds: 10 };
const OpenstackDns = z.object({
  servers: z.array(z.string().min(1)).default([]),
  domain: z
    .string()
    .regex(/^[a-z0-9.-]+$/)
    .nullable()
    .default(null),
  timeoutSeconds: z.number().int().positive().default(3600),
  pollSeconds: z.number().positive().max(10).default(10), // at most 10: the wait heartbeats between lookups
});

export const DEFAULT_LOCK_NAMESPACE = 'runbook-locks';

export const WorkerConfigSchema = z.object({
  taskQueue: z.string().min(1).default('runbooks'),
  /**
   * The Temporal namespace of the host-lease lock workflows: their own, so the runbooks' namespace lists
   * runbooks only (the Web UI's default list). One per cluster: runbooks of every namespace that share
   * machines must meet at the same locks. It must exist (the dev server creates it at start; on a cluster,
   * `temporal operator namespace create --namespace runbook-locks`).
   */
  lockNamespace: z.string().min(1).default(DEFAULT_LOCK_NAMESPACE),
  metricsPort: z.number().int().min(0).max(65535).default(9464),
  /**
   * Runs kept in memory between their tasks (the shipped config: 250, about 0.55 MiB each); unset: the SDK's
   * default, which grows with the heap and let 5,000 parked runs take the worker past 1 GiB. An evicted run
   * parked at a gate is replayed from its history when a message arrives (the scale bench measures that).
   */
  maxCachedWorkflows: z.number().int().min(2).max(100_000).optional(),
  /**
   * Steps this worker runs at once. Most of a step is waiting on a remote command, so this is high; what
   * a host can take is bounded per host by the inventory (maxSessions × maxConnections). At 50, fifty
   * long holds (a backup each) made every approved step behind them wait for a free slot (scale bench:
   * 500 approved marker steps started only after 50 two-minute holds ended).
   */
  maxConcurrentActivities: z.number().int().min(1).max(10_000).default(200),
  dataDir: z.string().default('.data'),
  /** Where people open runs; used in notifications. */
  uiBaseUrl: z.string().url().default('http://127.0.0.1:8233'),
  notify: z.object({ webhookUrl: z.string().url().nullable().default(null) }).default({ webhookUrl: null }),
  /**
   * Who a verdict's proof may come from, read at every verdict (revocation reaches parked runs).
   * allowedSigners: OpenSSH allowed_signers; an operator's key under their approver name, the codec
   * server's key under `runbook-codec` with namespaces="runbook-countersign". chat: the platform's signing
   * secret (a file on this worker, never in history) and chat user id → approver name.
   */
  approvals: z
    .object({
      allowedSigners: z.string().nullable().default(null),
      chat: z
        .object({ signingSecretFile: z.string().nullable().default(null), users: z.record(z.string(), z.string().min(1)).default({}) })
        .default({ signingSecretFile: null, users: {} }),
    })
    .default({ allowedSigners: null, chat: { signingSecretFile: null, users: {} } }),
  /**
   * Encryption at rest of backup bundles with age: the worker encrypts each stream to these public keys
   * before it reaches the store, so the store never holds a readable dump. The private key (identity
   * file) is needed only by a worker that runs restore tests; it never enters a run's input or history.
   */
  backups: z
    .object({
      ageRecipients: z.array(z.string().regex(/^age1[0-9a-z]{58}$/, 'an age public key (age1…)')).default([]),
      ageIdentityFile: z.string().nullable().default(null),
      /** Private key that signs manifests and backup records (null: <dataDir>/keys/bundle-signing, made by setup). */
      signingKeyFile: z.string().nullable().default(null),
      /** Public keys (ssh-ed25519 …) whose signatures this worker accepts, besides its own key's. */
      signingPublicKeys: z.array(z.string().regex(/^ssh-ed25519 [A-Za-z0-9+/=]+( .*)?$/, 'an OpenSSH ed25519 public key (ssh-ed25519 AAAA…)')).default([]),
    })
    .default({ ageRecipients: [], ageIdentityFile: null, signingKeyFile: null, signingPublicKeys: [] }),
  policies: z.object({
    default: GatePolicySchema,
    runbooks: z.record(z.string(), z.object({ default: PartialGatePolicy.optional(), gates: z.record(z.string(), PartialGatePolicy).optional() })).default({}),
  }),
  /**
   * OpenStack clouds (openstack* runbooks): credentials come from a standard clouds.yaml on this worker, never
   * from a run's input. cloudsYaml null = the standard search (OS_CLIENT_CONFIG_FILE, ./clouds.yaml,
   * ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml). Our own bounded waits: the client's
   * `--wait` has none and never treats a `killed` image as failure.
   */
  openstack: z
    .object({
      cloudsYaml: z.string().nullable().default(null),
      pollSeconds: z.number().positive().max(10).default(5), // at most 10: a wait heartbeats between polls (20 s heartbeat timeout)
      imageTimeoutSeconds: z.number().int().positive().default(3600),
      serverTimeoutSeconds: z.number().int().positive().default(1800),
      /** openstackClone/Move/Rename: image files live here on the image host, one directory per run. */
      imageDir: z
        .string()
        .regex(/^\/[A-Za-z0-9._/-]+$/, 'an absolute path')
        .default('/var/tmp/runbook-images'),
      /** A download or upload of one image (glance ↔ image host) may take this long. */
      transferTimeoutSeconds: z.number().int().positive().default(7200),
      sysprep: OpenstackSysprep.default(SYSPREP_DEFAULTS),
      dns: OpenstackDns.default(DNS_DEFAULTS),
    })
    .default({
      cloudsYaml: null,
      pollSeconds: 5,
      imageTimeoutSeconds: 3600,
      serverTimeoutSeconds: 1800,
      imageDir: '/var/tmp/runbook-images',
      transferTimeoutSeconds: 7200,
      sysprep: SYSPREP_DEFAULTS,
      dns: DNS_DEFAULTS,
    }),
  /**
   * libvirt on the hypervisors (rearControllerRecovery): how the hypervisor host's virsh is called and where
   * rescue ISOs and saved domain definitions go there. uri null = virsh's own default on that host.
   */
  libvirt: z
    .object({
      uri: z
        .string()
        .regex(/^[a-z0-9+]+:\/\/[A-Za-z0-9._\/?=&+-]*$/, 'a libvirt URI such as qemu:///system')
        .nullable()
        .default(null),
      sudo: z.boolean().default(true),
      isoDir: z
        .string()
        .regex(/^\/[A-Za-z0-9._\/+-]{1,200}$/, 'an absolute path (letters, digits, "._-/+")')
        .refine((p) => !p.split('/').includes('..'), 'no ".."')
        .default('/var/lib/libvirt/images'),
    })
    .default({ uri: null, sudo: true, isoDir: '/var/lib/libvirt/images' }),
});
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

export class ConfigError extends Error {}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig & { path: string } {
  const path = resolve(env.RUNBOOK_CONFIG ?? 'workers/runbooks.yaml');
  let data: unknown;
  try {
    data = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`worker config ${path}: ${(err as Error).message}`);
  }
  const r = WorkerConfigSchema.safeParse(data);
  if (!r.success) {
    throw new ConfigError(`worker config ${path}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const c = r.data;
  if (env.RUNBOOK_TASK_QUEUE) c.taskQueue = env.RUNBOOK_TASK_QUEUE;
  if (env.RUNBOOK_LOCK_NAMESPACE) c.lockNamespace = env.RUNBOOK_LOCK_NAMESPACE;
  if (env.RUNBOOK_METRICS_PORT) c.metricsPort = Number(env.RUNBOOK_METRICS_PORT);
  if (env.RUNBOOK_MAX_CACHED_WORKFLOWS) c.maxCachedWorkflows = Number(env.RUNBOOK_MAX_CACHED_WORKFLOWS);
  if (env.RUNBOOK_MAX_CONCURRENT_ACTIVITIES) c.maxConcurrentActivities = Number(env.RUNBOOK_MAX_CONCURRENT_ACTIVITIES);
  if (env.RUNBOOK_DATA_DIR) c.dataDir = env.RUNBOOK_DATA_DIR;
  if (env.RUNBOOK_WEBHOOK_URL) c.notify.webhookUrl = env.RUNBOOK_WEBHOOK_URL;
  if (env.RUNBOOK_UI_URL) c.uiBaseUrl = env.RUNBOOK_UI_URL;
  if (env.RUNBOOK_ALLOWED_SIGNERS) c.approvals.allowedSigners = env.RUNBOOK_ALLOWED_SIGNERS;
  if (env.RUNBOOK_CHAT_SIGNING_SECRET_FILE) c.approvals.chat.signingSecretFile = env.RUNBOOK_CHAT_SIGNING_SECRET_FILE;
  if (env.RUNBOOK_BACKUP_AGE_RECIPIENTS)
    c.backups.ageRecipients = env.RUNBOOK_BACKUP_AGE_RECIPIENTS.split(',')
      .map((r) => r.trim())
      .filter(Boolean);
  if (env.RUNBOOK_BACKUP_AGE_IDENTITY) c.backups.ageIdentityFile = env.RUNBOOK_BACKUP_AGE_IDENTITY;
  if (env.RUNBOOK_BACKUP_SIGNING_KEY) c.backups.signingKeyFile = env.RUNBOOK_BACKUP_SIGNING_KEY;
  if (env.RUNBOOK_BACKUP_SIGNING_PUBLIC_KEYS)
    c.backups.signingPublicKeys = env.RUNBOOK_BACKUP_SIGNING_PUBLIC_KEYS.split(',')
      .map((k) => k.trim())
      .filter(Boolean);
  if (env.RUNBOOK_OPENSTACK_CLOUDS) c.openstack.cloudsYaml = env.RUNBOOK_OPENSTACK_CLOUDS;
  if (env.RUNBOOK_OPENSTACK_DNS_SERVERS)
    c.openstack.dns.servers = env.RUNBOOK_OPENSTACK_DNS_SERVERS.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (env.RUNBOOK_LIBGUESTFS_ENV) {
    c.openstack.sysprep.env = Object.fromEntries(
      env.RUNBOOK_LIBGUESTFS_ENV.split(',')
        .filter(Boolean)
        .map((kv) => [kv.split('=')[0]!, kv.slice(kv.indexOf('=') + 1)]),
    );
  }
  if (env.RUNBOOK_LIBVIRT_URI) c.libvirt.uri = env.RUNBOOK_LIBVIRT_URI;
  if (env.RUNBOOK_LIBVIRT_ISO_DIR) c.libvirt.isoDir = env.RUNBOOK_LIBVIRT_ISO_DIR;
  if (env.RUNBOOK_LIBVIRT_SUDO) c.libvirt.sudo = env.RUNBOOK_LIBVIRT_SUDO !== 'false' && env.RUNBOOK_LIBVIRT_SUDO !== '0';
  c.dataDir = resolve(c.dataDir);
  return { ...c, path };
}

/** The effective policy of one runbook: defaults, then the runbook's defaults, then per-gate overrides. */
export function policyFor(c: WorkerConfig, runbook: string): RunbookPolicy {
  const rb = c.policies.runbooks[runbook];
  const defaults: GatePolicy = { allowUnverifiedApprovers: false, ...c.policies.default, ...stripUndefined(rb?.default ?? {}) };
  const gates: Record<string, GatePolicy> = {};
  for (const [name, p] of Object.entries(rb?.gates ?? {})) gates[name] = { ...defaults, ...stripUndefined(p) };
  return { runbook, defaults, gates, notifyTarget: c.notify.webhookUrl ? 'webhook' : 'log' };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
