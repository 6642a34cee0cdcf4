// Activities the runbook engine itself needs: host checks, policy, notifications, approval signatures,
// and the client calls behind host leases.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { policyFor, type WorkerConfig } from '../../workers/config.js';
import type { Inventory } from '../../workers/inventory.js';
import { acquireLeaseSignal, hostLease, leaseWorkflowId, type LeaseHolder } from '../../workflows/engine/host-lease.js';
import { approveCommands, decideCommands } from '../../workflows/engine/details.js';
import type { RunbookPolicy } from '../../workflows/engine/policy.js';
import { unknownHost } from '../ssh/ssh.js';

export interface Notification {
  event: string;
  runbook: string;
  workflowId: string;
  gate?: string;
  text: string;
  details: string;
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
      const body = JSON.stringify({ text, event: n.event, runbook: n.runbook, workflowId: n.workflowId, gate: n.gate, link, details: n.details });
      const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`webhook ${url} answered ${res.status}`);
      return { delivered: 'webhook' };
    },

    /** Checks an OpenSSH signature over {workflowId, gate, fingerprint} against allowed_signers. */
    async verifyApprovalSignature(a: {
      workflowId: string;
      gate: string;
      fingerprint: string;
      approver: string;
      signature: string;
    }): Promise<{ valid: boolean; reason?: string }> {
      const signers = config.approvals.allowedSigners;
      if (!signers) return { valid: false, reason: 'no allowed_signers file is configured' };
      const dir = mkdtempSync(join(tmpdir(), 'rb-sig-'));
      try {
        writeFileSync(join(dir, 'sig'), a.signature);
        const message = JSON.stringify({ workflowId: a.workflowId, gate: a.gate, fingerprint: a.fingerprint });
        const r = await execa('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', a.approver, '-n', 'runbook-approval', '-s', join(dir, 'sig')], {
          input: message,
          reject: false,
        });
        return r.exitCode === 0 ? { valid: true } : { valid: false, reason: `${r.stderr || r.stdout}`.trim().slice(0, 300) };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
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
