// Activities the runbook engine itself needs: host checks, policy, notifications, verdict proofs,
// and the client calls behind host leases.
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { policyFor, type WorkerConfig } from '../../workers/config.js';
import type { Inventory } from '../../workers/inventory.js';
import { acquireLeaseSignal, hostLease, leaseWorkflowId, type LeaseHolder } from '../../workflows/engine/host-lease.js';
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

    async requestLease({ host, holder }: { host: string; holder: LeaseHolder }): Promise<void> {
      await deps.client().workflow.signalWithStart(hostLease, {
        workflowId: leaseWorkflowId(host),
        taskQueue: config.taskQueue,
        args: [{ host, waiters: [] }],
        signal: acquireLeaseSignal,
        signalArgs: [holder],
        staticSummary: `lease of host ${host}`,
      });
    },

    async isWorkflowOpen({ workflowId, runId }: { workflowId: string; runId: string }): Promise<boolean> {
      try {
        const d = await deps.client().workflow.getHandle(workflowId, runId).describe();
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
