// Host leases: one long-lived lock workflow per machine, reached by signal-with-start, granting it in FIFO
// order: exclusively to a runbook that changes the machine, shared to runbooks that only write into a
// path on it (many backups into one store run together; preparing that store waits for them all).
//
// The lock is keyed by the machine's identity (a hash of its pinned host key), not its inventory name,
// so two names for one machine exclude each other, and it runs on one internal task queue every worker
// serves (LOCK_TASK_QUEUE): the worker that asked first may be gone without stranding the lock. Its
// payloads are plain JSON on every worker, whatever payload codec the runbooks use (they hold host names
// and workflow ids only), so a worker without the codec can still run a lock that one with it started.
// Locks live in a namespace of their own (the worker's lockNamespace), so the runbooks' namespace, and the
// Web UI's list of it, holds runbooks only; the lock reaches a runbook in its namespace through activities.
import {
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  type ActivityOptions,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { RunbookActivities } from '../../activities/index.js';

/** The one task queue of lock workflows (and the activities they run); every runbook worker serves it. */
export const LOCK_TASK_QUEUE = 'runbook-locks';
/** Runs recorded before identity-keyed, scoped locks replay on the old path. */
export const LEASE_LOCKS_PATCH = 'leases-by-host-identity';
/** Runs recorded before a waiting run asked again for its lease replay without the timer. */
export const LEASE_ASK_AGAIN_PATCH = 'lease-asked-again';
/**
 * Runs recorded before a grant was confirmed with the lock. Before it, the news handler told a grant for
 * this run from one for the run before a reset by workflowInfo().runId, which a reset changes for the
 * events it copies: the reset run replayed those news differently from the run that lived them (a
 * nondeterminism error the chaos test found). Now every grant only wakes the run, and whether it holds
 * the lease is the lock's answer, recorded in history.
 */
export const LEASE_CONFIRMED_PATCH = 'lease-grant-confirmed';
/**
 * Runs recorded before locks moved to their own namespace asked the lock in the runbook's namespace; a lock
 * recorded before it told its runbooks by external signal, which reaches only its own namespace.
 */
export const LEASE_NAMESPACE_PATCH = 'leases-in-lock-namespace';
/**
 * Locks recorded before a waiter's request could make the lock look for gone holders. Before it, holders
 * were only checked after a minute without any change, and a waiter asking again every minute is a change:
 * a terminated holder could keep the host from its waiters for minutes, or for as long as they kept asking.
 */
export const LEASE_STALE_CHECK_PATCH = 'lease-gone-holders-checked-for-waiters';
/** While runs wait, the holders are checked at most this often (and at once when the first one asks). */
const HOLDER_CHECK_MS = 60_000;

/** What a runbook leases: a host it changes (exclusive), or a path on a store it only writes into (shared). */
export type LeaseRequest = string | { host: string; sharedPath: string };
export type LeaseMode = 'exclusive' | 'shared';

export const leaseHost = (l: LeaseRequest): string => (typeof l === 'string' ? l : l.host);

export interface LeaseHolder {
  workflowId: string;
  runId: string;
  /** The run id a reset keeps (workflowInfo().originalExecutionRunId): a reset run is the same holder. */
  originalRunId?: string;
  runbook: string;
  mode?: LeaseMode;
  /** The inventory name (exclusive) or store path (shared) asked for; for people. */
  scope?: string;
  /** The inventory name the runbook asked by: its news names that. */
  name?: string;
  /** The runbook's namespace (runs since LEASE_NAMESPACE_PATCH; their lock is in the lock namespace). */
  namespace?: string;
}

export interface LeaseState {
  /** The lock's key: the host name (old locks) or the machine's identity. */
  host: string;
  /** The inventory names seen for this machine. */
  names?: string[];
  /** The first holder (what the old single-holder lock had); kept for the query. */
  holder?: LeaseHolder & { since: string };
  holders?: (LeaseHolder & { since: string })[];
  waiters: LeaseHolder[];
}

export interface LeaseRelease {
  workflowId: string;
  originalRunId?: string;
  /** Set: the lock is in the lock namespace (see LeaseHolder.namespace). */
  namespace?: string;
}

/** What a runbook holds: its locks, and whether they are in the lock namespace (decided once, when asking). */
export interface LeaseHold {
  locks: string[];
  apart?: boolean;
}

export const acquireLeaseSignal = defineSignal<[LeaseHolder]>('acquire');
export const releaseLeaseSignal = defineSignal<[LeaseRelease]>('release');
export const leaseQuery = defineQuery<LeaseState>('lease');
/** Sent by the lock to a runbook: granted, or queued behind someone. `host` is the lock's key. */
export interface LeaseNews {
  host: string;
  granted: boolean;
  holder?: string;
  position?: number;
  runId?: string;
}
export const leaseNewsSignal = defineSignal<[LeaseNews]>('leaseNews');

/** The old lock id (by inventory name), still used by runs recorded before LEASE_LOCKS_PATCH. */
export const leaseWorkflowId = (host: string): string => `host-lease:${host}`;

const LOCK_OPTIONS: ActivityOptions = { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 3 } };
const lockActs = proxyActivities<RunbookActivities>(LOCK_OPTIONS);
// Telling a runbook rides out a short server outage; past that the lock treats the run as gone.
const TELL_OPTIONS: ActivityOptions = { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 8, maximumInterval: '10 seconds' } };
const tellActs = proxyActivities<RunbookActivities>(TELL_OPTIONS);

const sameChain = (a: LeaseRelease, b: LeaseRelease): boolean =>
  a.workflowId === b.workflowId && (a.originalRunId === undefined || b.originalRunId === undefined || a.originalRunId === b.originalRunId);
/** The entry is this workflow's chain of runs: the same workflow id and, for a holder that named it, the same original run. Only it frees the lease. */
export const heldBy = (h: LeaseHolder, r: LeaseRelease): boolean =>
  h.workflowId === r.workflowId && (h.originalRunId === undefined || h.originalRunId === r.originalRunId);

/** The lock workflow of one machine. */
export async function hostLease(start: LeaseState): Promise<void> {
  const holders = [...(start.holders ?? (start.holder ? [start.holder] : []))];
  const state: LeaseState = { host: start.host, names: [...(start.names ?? [])], holders, waiters: [...(start.waiters ?? [])] };
  const view = (): LeaseState => ({ ...state, holder: holders[0] });
  let changes = 0;
  let holdersCheckedAt = 0;
  const regrant = new Set<string>();
  setHandler(
    acquireLeaseSignal,
    (h) => {
      if (h.name && !state.names!.includes(h.name)) state.names!.push(h.name);
      const held = holders.findIndex((x) => x.workflowId === h.workflowId);
      if (held >= 0 && sameChain(holders[held]!, h)) {
        // Ours already (a reset run, or a second name for the same machine): follow the new run, say so again.
        holders[held] = { ...holders[held]!, runId: h.runId, name: h.name, mode: holders[held]!.mode === 'exclusive' ? 'exclusive' : h.mode };
        regrant.add(h.workflowId);
        changes++;
        return;
      }
      // One open run per workflow id: an entry from another chain of the same id is from a closed run.
      if (held >= 0) holders.splice(held, 1);
      const waiting = state.waiters.findIndex((x) => x.workflowId === h.workflowId);
      if (waiting >= 0 && sameChain(state.waiters[waiting]!, h)) {
        const w = state.waiters[waiting]!;
        state.waiters[waiting] = { ...w, runId: h.runId, name: h.name, mode: w.mode === 'exclusive' ? 'exclusive' : h.mode };
      } else {
        if (waiting >= 0) state.waiters.splice(waiting, 1);
        state.waiters.push(h);
      }
      changes++;
    },
    { description: 'Ask for the host: {"workflowId", "runId", "originalRunId", "runbook", "mode", "scope"} (sent by runbooks).' },
  );
  setHandler(
    releaseLeaseSignal,
    (r) => {
      const i = holders.findIndex((x) => heldBy(x, r));
      if (i >= 0) holders.splice(i, 1);
      state.waiters = state.waiters.filter((w) => !heldBy(w, r));
      changes++;
    },
    { description: 'Give the host back: {"workflowId", "originalRunId"}. An operator frees a stuck lease with the same two fields.' },
  );
  setHandler(leaseQuery, view, { description: 'Who holds this host (and how) and who waits.' });
  /** False when the runbook's run is gone (closed, or never reachable). */
  const tell = async (h: LeaseHolder, granted: boolean, position?: number): Promise<boolean> => {
    const first = holders[0];
    const news = {
      host: state.host, // the lock, not a host name: this signal is plain JSON in the runbook's history
      granted,
      runId: h.runId,
      ...(granted ? {} : { holder: `${first?.runbook} ${first?.workflowId}`, position }),
    };
    try {
      // An external signal reaches only this namespace: a runbook elsewhere is told by an activity.
      if (patched(LEASE_NAMESPACE_PATCH)) {
        return await tellActs.tellHolder.executeWithOptions(
          { ...TELL_OPTIONS, summary: `tell ${h.runbook} ${h.workflowId}: ${granted ? 'granted' : `number ${position} in line`}` },
          [{ workflowId: h.workflowId, runId: h.runId, namespace: h.namespace, news }],
        );
      }
      await getExternalWorkflowHandle(h.workflowId, h.runId).signal(leaseNewsSignal, news);
      return true;
    } catch {
      return false;
    }
  };

  for (;;) {
    for (const id of [...regrant]) {
      regrant.delete(id);
      const h = holders.find((x) => x.workflowId === id);
      if (h) await tell(h, true);
    }
    // FIFO: the head of the line goes in when it is compatible with every holder; nobody overtakes it.
    while (state.waiters.length) {
      const next = state.waiters[0]!;
      const fits = (next.mode ?? 'exclusive') === 'shared' ? holders.every((x) => x.mode === 'shared') : holders.length === 0;
      if (!fits) break;
      state.waiters.shift();
      const granted = { ...next, since: new Date().toISOString() };
      holders.push(granted);
      // The runbook is gone: give the machine to the next one.
      if (!(await tell(next, true))) holders.splice(holders.indexOf(granted), 1);
    }
    for (const [i, w] of state.waiters.entries()) await tell(w, false, i + 1);
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2000) {
      await continueAsNew<typeof hostLease>({ ...state, holder: undefined });
    }
    const seen = changes;
    const idle = holders.length === 0 && state.waiters.length === 0;
    const changed = await condition(() => changes !== seen, idle ? '10 minutes' : '1 minute');
    if (!changed && idle) return; // nobody has needed this host for a while; the next runbook starts a fresh lock
    // A holder that was terminated never releases: free the host once its workflow has no open run. Looked
    // at after a quiet minute, and, while someone waits, when a request or release comes (at most once a minute).
    const due =
      !changed || (state.waiters.length > 0 && holders.length > 0 && Date.now() - holdersCheckedAt >= HOLDER_CHECK_MS && patched(LEASE_STALE_CHECK_PATCH));
    if (!due) continue;
    holdersCheckedAt = Date.now();
    for (const h of [...holders]) {
      // A holder with a chain is followed to its latest run (a reset run carries on with the lease).
      const open = await lockActs.isWorkflowOpen({ workflowId: h.workflowId, ...(h.originalRunId ? {} : { runId: h.runId }), namespace: h.namespace });
      if (!open) holders.splice(holders.indexOf(h), 1);
    }
  }
}

/**
 * Called by the runbook engine: takes every lease in a stable order of lock (no deadlock between two
 * runbooks, even when they name one machine differently). Returns what releaseLeases needs.
 */
export async function acquireLeases(leases: LeaseRequest[], runbook: string, onWait: (msg: string) => void, held: LeaseHold): Promise<void> {
  const info = workflowInfo();
  const granted = new Set<string>();
  /** Every grant heard, whoever it was addressed to: only a wake-up, confirmed with the lock. */
  const heard = new Set<string>();
  const names = new Map<string, string>(); // lock → the inventory name we asked by
  setHandler(leaseNewsSignal, (n) => {
    if (n.granted) heard.add(n.host);
    // A reset re-applies the signals of the run before it: a grant addressed to that run is not ours.
    if (n.runId !== undefined && n.runId !== workflowInfo().runId) return;
    if (n.granted) granted.add(n.host);
    else onWait(`lease on ${names.get(n.host) ?? n.host}: held by ${n.holder}, we are number ${n.position} in line`);
  });
  if (!patched(LEASE_LOCKS_PATCH)) {
    const hosts = [...new Set(leases.map(leaseHost))].sort();
    held.locks.push(...hosts);
    for (const host of hosts) {
      await lockActs.requestLease({ host, holder: { workflowId: info.workflowId, runId: info.runId, runbook } });
      await condition(() => granted.has(host));
    }
    return;
  }
  const locks = await lockActs.leaseLocks.executeWithOptions({ ...LOCK_OPTIONS, summary: 'find the locks of the hosts' }, [{ leases }]);
  held.apart = patched(LEASE_NAMESPACE_PATCH);
  const namespace = held.apart ? { namespace: info.namespace } : {};
  held.locks.push(...locks.map((l) => l.lock));
  for (const l of locks) names.set(l.lock, l.name);
  for (const l of locks) {
    const holder: LeaseHolder = {
      workflowId: info.workflowId,
      runId: info.runId,
      originalRunId: info.originalExecutionRunId,
      runbook,
      mode: l.mode,
      scope: l.scope,
      name: l.name,
      ...namespace,
    };
    await lockActs.requestLease.executeWithOptions({ ...LOCK_OPTIONS, summary: `ask for the lease on ${l.name}` }, [{ host: l.name, lock: l.lock, holder }]);
    if (!patched(LEASE_ASK_AGAIN_PATCH)) {
      await condition(() => granted.has(l.lock));
      continue;
    }
    if (patched(LEASE_CONFIRMED_PATCH)) {
      // Woken by a grant (or a minute without one, when it asks again), the run asks the lock whether its
      // chain of runs holds the machine; a grant to a run before a reset that the lock has since taken
      // back is answered no, and the run asks again at once.
      for (;;) {
        if (await condition(() => heard.has(l.lock), '1 minute')) {
          heard.delete(l.lock);
          const held = await lockActs.leaseHeld.executeWithOptions({ ...LOCK_OPTIONS, summary: `check the lease on ${l.name} with its lock` }, [
            { lock: l.lock, workflowId: info.workflowId, originalRunId: info.originalExecutionRunId, ...namespace },
          ]);
          if (held) break;
        }
        await lockActs.requestLease.executeWithOptions({ ...LOCK_OPTIONS, summary: `ask again for the lease on ${l.name}` }, [
          { host: l.name, lock: l.lock, holder },
        ]);
      }
      continue;
    }
    // A reset run that replayed its request waits for a grant the lock sends to the run before it (gone by
    // then: the lock gives the host to the next in line). Asking again, now and then, is harmless: the lock
    // keeps one entry per chain of runs and follows it to this run.
    while (!(await condition(() => granted.has(l.lock), '1 minute'))) {
      await lockActs.requestLease.executeWithOptions({ ...LOCK_OPTIONS, summary: `ask again for the lease on ${l.name}` }, [
        { host: l.name, lock: l.lock, holder },
      ]);
    }
  }
}

/** `held` is what acquireLeases filled in: lock ids (or, on the old path, host names). */
export async function releaseLeases(held: LeaseHold): Promise<void> {
  const { workflowId, originalExecutionRunId, namespace } = workflowInfo();
  if (!patched(LEASE_LOCKS_PATCH)) {
    for (const host of new Set(held.locks)) {
      await getExternalWorkflowHandle(leaseWorkflowId(host))
        .signal(releaseLeaseSignal, { workflowId })
        .catch(() => undefined); // no lock means nothing is held
    }
    return;
  }
  // Through an activity, so the signal is plain JSON (see the top of this file).
  await lockActs.releaseLeases({
    locks: held.locks,
    holder: { workflowId, originalRunId: originalExecutionRunId, ...(held.apart ? { namespace } : {}) },
  });
}
