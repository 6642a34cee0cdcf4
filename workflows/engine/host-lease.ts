// Host leases: one long-lived lock workflow per host (`host-lease:<host>`), reached by signal-with-start,
// granting the host to one runbook at a time in FIFO order. Two runbooks never change one host at once.
import {
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  proxyActivities,
  type ActivityOptions,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { RunbookActivities } from '../../activities/index.js';

export interface LeaseHolder {
  workflowId: string;
  runId: string;
  runbook: string;
}

export interface LeaseState {
  host: string;
  holder?: LeaseHolder & { since: string };
  waiters: LeaseHolder[];
}

export const acquireLeaseSignal = defineSignal<[LeaseHolder]>('acquire');
export const releaseLeaseSignal = defineSignal<[{ workflowId: string }]>('release');
export const leaseQuery = defineQuery<LeaseState>('lease');
/** Sent by the lock to a runbook: granted, or queued behind someone. */
export const leaseNewsSignal = defineSignal<[{ host: string; granted: boolean; holder?: string; position?: number }]>('leaseNews');

export const leaseWorkflowId = (host: string): string => `host-lease:${host}`;

const LOCK_OPTIONS: ActivityOptions = { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 3 } };
const lockActs = proxyActivities<RunbookActivities>(LOCK_OPTIONS);

/** The lock workflow of one host. */
export async function hostLease(start: LeaseState): Promise<void> {
  const state: LeaseState = { host: start.host, holder: start.holder, waiters: [...(start.waiters ?? [])] };
  let changes = 0;
  setHandler(
    acquireLeaseSignal,
    (h) => {
      if (state.holder?.workflowId === h.workflowId || state.waiters.some((w) => w.workflowId === h.workflowId)) return;
      state.waiters.push(h);
      changes++;
    },
    { description: 'Ask for the host: {"workflowId", "runId", "runbook"} (sent by runbooks).' },
  );
  setHandler(
    releaseLeaseSignal,
    ({ workflowId }) => {
      if (state.holder?.workflowId === workflowId) state.holder = undefined;
      state.waiters = state.waiters.filter((w) => w.workflowId !== workflowId);
      changes++;
    },
    { description: 'Give the host back: {"workflowId"}. Also usable by an operator to free a stuck lease.' },
  );
  setHandler(leaseQuery, () => state, { description: 'Who holds this host and who waits.' });

  for (;;) {
    while (!state.holder && state.waiters.length) {
      const next = state.waiters.shift()!;
      state.holder = { ...next, since: new Date().toISOString() };
      try {
        await getExternalWorkflowHandle(next.workflowId, next.runId).signal(leaseNewsSignal, { host: state.host, granted: true });
      } catch {
        state.holder = undefined; // the runbook is gone; give the host to the next one
      }
    }
    for (const [i, w] of state.waiters.entries()) {
      await getExternalWorkflowHandle(w.workflowId, w.runId)
        .signal(leaseNewsSignal, {
          host: state.host,
          granted: false,
          holder: `${state.holder?.runbook} ${state.holder?.workflowId}`,
          position: i + 1,
        })
        .catch(() => undefined);
    }
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2000) {
      await continueAsNew<typeof hostLease>(state);
    }
    const seen = changes;
    const idle = !state.holder && state.waiters.length === 0;
    const changed = await condition(() => changes !== seen, idle ? '10 minutes' : '1 minute');
    if (changed) continue;
    if (idle) return; // nobody has needed this host for a while; the next runbook starts a fresh lock
    // A holder that was terminated never releases: free the host once its run is closed.
    if (state.holder && !(await lockActs.isWorkflowOpen({ workflowId: state.holder.workflowId, runId: state.holder.runId }))) {
      state.holder = undefined;
    }
  }
}

/** Called by the runbook engine: takes every lease in a stable order (no deadlock between two runbooks). */
export async function acquireLeases(hosts: string[], runbook: string, onWait: (msg: string) => void): Promise<void> {
  const info = workflowInfo();
  const granted = new Set<string>();
  setHandler(leaseNewsSignal, (n) => {
    if (n.granted) granted.add(n.host);
    else onWait(`lease on ${n.host}: held by ${n.holder}, we are number ${n.position} in line`);
  });
  for (const host of [...new Set(hosts)].sort()) {
    await lockActs.requestLease.executeWithOptions({ ...LOCK_OPTIONS, summary: `ask for the lease on ${host}` }, [
      { host, holder: { workflowId: info.workflowId, runId: info.runId, runbook } },
    ]);
    await condition(() => granted.has(host));
  }
}

export async function releaseLeases(hosts: string[]): Promise<void> {
  const { workflowId } = workflowInfo();
  for (const host of new Set(hosts)) {
    await getExternalWorkflowHandle(leaseWorkflowId(host))
      .signal(releaseLeaseSignal, { workflowId })
      .catch(() => undefined); // no lock means nothing is held
  }
}
