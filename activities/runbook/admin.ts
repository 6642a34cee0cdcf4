// Activities the runbook engine itself needs: host checks, policy, notifications, verdict proofs,
// and the client calls behind host leases.
import { createHash } from 'node:crypto';
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { Client } from '@temporalio/client';
import { policyFor, type WorkerConfig } from '../../workers/config.js';
import type { Inventory } from '../../workers/inventory.js';
import {
  acquireLeaseSignal,
  hostLease,
  leaseHost,
  LOCK_TASK_QUEUE,
  heldBy,
  leaseNewsSignal,
  leaseQuery,
  leaseWorkflowId,
  releaseLeaseSignal,
  type LeaseHolder,
  type LeaseMode,
  type LeaseNews,
  type LeaseRelease,
  type LeaseRequest,
} from '../../workflows/engine/host-lease.js';
import { approveCommands, decideCommands } from '../../workflows/engine/details.js';
import type { RunbookPolicy } from '../../workflows/engine/policy.js';
import { chatActionValue, type Proof, type ProofCheck } from '../../workflows/engine/proofs.js';
import { verifyProof } from './verdict-proofs.js';
import { unknownHost } from '../ssh/ssh.js';

export interface Notification {
  event: string;
  runbook: string;
  workflowId: string;
  gate?: string;
  /** The gate's opening, for the chat buttons' signed values. */
  opening?: { runId: string; nonce: string; fingerprint: string };
  text: string;
  details: string;
}

/** How long a chat button stays usable: it is bound to one opening of one gate, and its callback must be fresh. */
const CHAT_BUTTON_DAYS = 30;

/** Slack blocks with Approve/Reject buttons whose values are the statements a callback proves. */
function chatButtons(n: Notification, namespace: string): unknown[] | undefined {
  if (n.event === 'parked' || !n.gate || !n.opening) return undefined;
  const now = Date.now();
  const value = (verdict: 'approve' | 'reject'): string =>
    chatActionValue({
      namespace,
      workflowId: n.workflowId,
      runId: n.opening!.runId,
      gate: n.gate!,
      gateNonce: n.opening!.nonce,
      verdict,
      fingerprint: n.opening!.fingerprint,
      issuedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + CHAT_BUTTON_DAYS * 86_400_000).toISOString(),
    });
  return [
    {
      type: 'actions',
      elements: [
        { type: 'button', action_id: 'approve', text: { type: 'plain_text', text: 'Approve' }, style: 'primary', value: value('approve') },
        { type: 'button', action_id: 'reject', text: { type: 'plain_text', text: 'Reject' }, style: 'danger', value: value('reject') },
      ],
    },
  ];
}

export function makeAdminActivities(deps: { inventory: Inventory; config: WorkerConfig; client: () => Client; env: NodeJS.ProcessEnv; namespace: string }) {
  const { inventory, config } = deps;
  // Lock workflows carry plain JSON whatever codec the runbooks use (see workflows/engine/host-lease.ts).
  const plain = new Map<string, Client>();
  const plainIn = (namespace: string): Client => {
    let c = plain.get(namespace);
    if (!c) plain.set(namespace, (c = new Client({ connection: deps.client().connection, namespace })));
    return c;
  };
  const plainClient = (): Client => plainIn(deps.namespace);
  /** A lock lives in the lock namespace when its runbook says where it runs (runs since the patch); else in the runbook's. */
  const lockClient = (runbookNamespace: string | undefined): Client => (runbookNamespace ? plainIn(config.lockNamespace) : plainClient());
  return {
    /** Every named host must be in the inventory; fails at once, before anything runs anywhere. */
    async resolveHosts({ hosts }: { hosts: string[] }): Promise<string[]> {
      for (const h of hosts) if (!inventory.hosts[h]) throw unknownHost(h, inventory);
      return hosts;
    },

    async loadPolicy({ runbook }: { runbook: string }): Promise<RunbookPolicy> {
      return policyFor(config, runbook);
    },

    /**
     * Webhook POST with a Slack-compatible `text` (what happened, the run's UI link, the commands to act),
     * bearer token from the worker's environment (never from history); without a webhook, a log line.
     */
    async notify(n: Notification): Promise<{ delivered: 'webhook' | 'log' }> {
      const link = `${config.uiBaseUrl.replace(/\/$/, '')}/namespaces/${deps.namespace}/workflows/${encodeURIComponent(n.workflowId)}`;
      const text = [`*${n.runbook}* \`${n.workflowId}\`: ${n.text}`, link, '```', ...actionLines(n), '```'].join('\n');
      const url = config.notify.webhookUrl;
      if (!url) {
        log.info(`NOTIFY ${n.event} ${n.runbook} ${n.workflowId}: ${n.text} ${link}`);
        return { delivered: 'log' };
      }
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const token = deps.env.RUNBOOK_WEBHOOK_TOKEN;
      if (token) headers.authorization = `Bearer ${token}`;
      const blocks = chatButtons(n, deps.namespace);
      const body = JSON.stringify({
        text,
        event: n.event,
        runbook: n.runbook,
        workflowId: n.workflowId,
        gate: n.gate,
        link,
        details: n.details,
        ...(blocks ? { blocks } : {}),
      });
      const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`webhook ${url} answered ${res.status}`);
      return { delivered: 'webhook' };
    },

    /** The identity behind a verdict's or decision's proof, by the trust as configured now (proofs.ts). */
    async verifyVerdictProof({ proof }: { proof: Proof }): Promise<ProofCheck> {
      const r = await verifyProof(config, proof);
      log.info(r.valid ? `verdict proof: ${r.via} ${r.identity} as ${r.approver}` : `verdict proof refused: ${r.reason}`);
      return r;
    },

    /** The lock of each leased host, by its identity (merged: one lock per machine, exclusive wins), in lock order. */
    async leaseLocks({ leases }: { leases: LeaseRequest[] }): Promise<LeaseLock[]> {
      const byLock = new Map<string, LeaseLock>();
      for (const l of leases) {
        const name = leaseHost(l);
        if (!inventory.hosts[name]) throw unknownHost(name, inventory);
        const lock = leaseLockId(inventory, name);
        const mode = typeof l === 'string' ? 'exclusive' : 'shared';
        const scope = typeof l === 'string' ? name : `${name}:${l.sharedPath}`;
        const had = byLock.get(lock);
        if (!had) byLock.set(lock, { lock, name, mode, scope });
        else if (mode === 'exclusive' && had.mode === 'shared') byLock.set(lock, { lock, name, mode, scope: `${scope} (also ${had.scope})` });
        else had.scope = `${had.scope} (also ${scope})`;
      }
      return [...byLock.values()].sort((a, b) => (a.lock < b.lock ? -1 : a.lock > b.lock ? 1 : 0));
    },

    async requestLease({ host, lock, holder }: { host: string; lock?: string; holder: LeaseHolder }): Promise<void> {
      if (!lock) {
        // A run from before identity-keyed locks (in flight across an upgrade): its old lock.
        await deps.client().workflow.signalWithStart(hostLease, {
          workflowId: leaseWorkflowId(host),
          taskQueue: config.taskQueue,
          args: [{ host, waiters: [] }],
          signal: acquireLeaseSignal,
          signalArgs: [holder],
          staticSummary: `lease of host ${host}`,
        });
        return;
      }
      await lockClient(holder.namespace).workflow.signalWithStart(hostLease, {
        workflowId: lock,
        taskQueue: LOCK_TASK_QUEUE,
        args: [{ host: lock, names: [host], holders: [], waiters: [] }],
        signal: acquireLeaseSignal,
        signalArgs: [holder],
        staticSummary: `host lease (${host})`,
      });
    },

    async releaseLeases({ locks, holder }: { locks: string[]; holder: LeaseRelease }): Promise<void> {
      for (const lock of new Set(locks)) {
        await lockClient(holder.namespace)
          .workflow.getHandle(lock)
          .signal(releaseLeaseSignal, holder)
          .catch((err: Error) => {
            if (err.name !== 'WorkflowNotFoundError') throw err; // no lock means nothing is held
          });
      }
    },

    /** Whether the lock lists this chain of runs (workflow id and original run id) among its holders now. */
    async leaseHeld({
      lock,
      workflowId,
      originalRunId,
      namespace,
    }: {
      lock: string;
      workflowId: string;
      originalRunId: string;
      namespace?: string;
    }): Promise<boolean> {
      try {
        const state = await lockClient(namespace).workflow.getHandle(lock).query(leaseQuery);
        return (state.holders ?? []).some((h) => heldBy(h, { workflowId, originalRunId }));
      } catch (err) {
        if ((err as Error).name === 'WorkflowNotFoundError') return false;
        throw err;
      }
    },

    /**
     * The lock's news to a runbook, in the runbook's namespace (a lock's external signal reaches only its
     * own). False when that run is closed or gone: the lock then gives the machine to the next in line.
     */
    async tellHolder({ workflowId, runId, namespace, news }: { workflowId: string; runId: string; namespace?: string; news: LeaseNews }): Promise<boolean> {
      try {
        await plainIn(namespace ?? deps.namespace)
          .workflow.getHandle(workflowId, runId)
          .signal(leaseNewsSignal, news);
        return true;
      } catch (err) {
        if ((err as Error).name === 'WorkflowNotFoundError') return false;
        throw err;
      }
    },

    /** Open: the given run is running, or without one, the workflow's latest run (a reset run carries on a lease). */
    async isWorkflowOpen({ workflowId, runId, namespace }: { workflowId: string; runId?: string; namespace?: string }): Promise<boolean> {
      try {
        const d = await plainIn(namespace ?? deps.namespace)
          .workflow.getHandle(workflowId, runId || undefined)
          .describe();
        return d.status.name === 'RUNNING';
      } catch (err) {
        if ((err as Error).name === 'WorkflowNotFoundError') return false;
        throw err;
      }
    },
  };
}

/** What the person notified can paste to act: the same lines the run's current details show. */
function actionLines(n: Notification): string[] {
  if (n.event === 'parked') return decideCommands(n.workflowId);
  if (!n.gate) return [`npx runbook status ${n.workflowId}`];
  return approveCommands(n.workflowId, n.gate);
}

export function invalidConfig(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: 'InvalidConfig', nonRetryable: true });
}

export interface LeaseLock {
  lock: string;
  name: string;
  mode: LeaseMode;
  scope: string;
}

/** A machine's lock: named by a hash of its pinned host key, so every inventory name for it meets there. */
export function leaseLockId(inventory: Inventory, host: string): string {
  const key = inventory.hosts[host]?.hostKey;
  if (!key) throw unknownHost(host, inventory);
  return `host-lease:${createHash('sha256')
    .update(Buffer.from(key.split(' ')[1]!, 'base64'))
    .digest('hex')
    .slice(0, 24)}`;
}
