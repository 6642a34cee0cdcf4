// The node's ostree deployments as the runbooks see them (`rpm-ostree status --json`), and the seed's
// rollback decision table. Pure functions: the gates show which row applied, the tests feed real output.
import { remote, type RemoteCommand } from '../engine/commands.js';

export interface Deployment {
  index: number;
  checksum: string;
  serial: number;
  version: string;
  booted: boolean;
  pinned: boolean;
  staged: boolean;
  origin: string;
}

/** `rpm-ostree status --json`: `staged` is only present when true; the list order is the boot order. */
export function parseDeployments(json: string): Deployment[] {
  const doc = JSON.parse(json) as { deployments?: Record<string, unknown>[] };
  if (!Array.isArray(doc.deployments)) throw new Error('rpm-ostree status --json has no "deployments" list');
  return doc.deployments.map((d, index) => ({
    index,
    checksum: String(d.checksum),
    serial: Number(d.serial ?? 0),
    version: String(d.version ?? '?'),
    booted: d.booted === true,
    pinned: d.pinned === true,
    staged: d.staged === true,
    origin: String(d.origin ?? ''),
  }));
}

export const deploymentId = (d: Deployment): string => `${d.checksum}.${d.serial}`;

export function describeDeployment(d: Deployment): string {
  const flags = [d.booted && 'booted', d.pinned && 'pinned', d.staged && 'staged'].filter(Boolean).join(', ');
  return `${d.index}: ${d.version} ${d.checksum.slice(0, 12)}.${d.serial} (${d.origin})${flags ? ` [${flags}]` : ''}`;
}

export type RollbackRow = 'single-pinned' | 'pinned-is-rollback' | 'pinned-behind-standbys' | 'booted-pinned' | 'no-pinned' | 'pinned-pending';

/** Rows that need a human, not a command. */
export const REFUSED_ROWS: RollbackRow[] = ['no-pinned', 'pinned-pending'];

export interface RollbackPlan {
  row: RollbackRow;
  /** The seed's table row, quoted in the gates. */
  says: string;
  /** Standby deployments between the booted one and the pinned one: undeployed so the pinned one becomes "rollback". */
  undeploy: Deployment[];
  rollback: boolean;
  pinned?: Deployment;
}

/**
 * The seed's "Platform Rollback" table. "Rollback" is the deployment right after the booted one.
 * Two rows the table does not list are handled as an SRE would: the booted deployment is the pinned one
 * (the platform did not change, extra standbys are harmless) and no pinned deployment at all (the
 * backup's pin is gone: refuse rather than guess which deployment to boot).
 */
export function planRollback(ds: Deployment[]): RollbackPlan {
  const booted = ds.find((d) => d.booted);
  const pinned = ds.find((d) => d.pinned);
  if (!booted) throw new Error('no booted deployment in rpm-ostree status');
  if (!pinned) {
    return {
      row: 'no-pinned',
      says: 'no deployment is pinned: the pre-upgrade backup pins the one to return to; nothing to roll back to',
      undeploy: [],
      rollback: false,
    };
  }
  if (ds.length === 1) {
    return { row: 'single-pinned', says: 'Single deployment, pinned → Platform OS unchanged, no action required', undeploy: [], rollback: false, pinned };
  }
  if (pinned.booted) {
    return {
      row: 'booted-pinned',
      says: 'the booted deployment is the pinned one → Platform OS unchanged, no action required',
      undeploy: [],
      rollback: false,
      pinned,
    };
  }
  if (pinned.index === booted.index + 1) {
    return {
      row: 'pinned-is-rollback',
      says: 'Standby deployment pinned, flagged as "rollback" → rpm-ostree rollback -r',
      undeploy: [],
      rollback: true,
      pinned,
    };
  }
  if (pinned.index < booted.index) {
    return {
      row: 'pinned-pending',
      says: "the pinned deployment is queued ahead of the booted one (pending): the seed's table has no row for this; refuse rather than guess",
      undeploy: [],
      rollback: false,
      pinned,
    };
  }
  return {
    row: 'pinned-behind-standbys',
    says: 'Multiple standby deployments, pinned deployment is not "rollback" → ostree admin undeploy until it is, then rpm-ostree rollback -r',
    undeploy: ds.filter((d) => d.index > booted.index && d.index < pinned.index),
    rollback: true,
    pinned,
  };
}

/**
 * Undeploys deployments by identity, not by index: an index shifts after every undeploy, so a retried or
 * resumed step working from indexes read earlier could remove the wrong deployment. The index is looked up
 * from `ostree admin status` at the moment of each undeploy; one already gone is skipped. Safe to re-run.
 */
export const UNDEPLOY_BY_ID = [
  'for id in "$@"; do',
  '  i=$(ostree admin status | awk -v id="$id" \'/^(\\* |  )[^ ]/ { n++; for (f = 1; f <= NF; f++) if ($f == id) print n - 1 }\')',
  '  if [ -z "$i" ]; then echo "$id: already gone"; continue; fi',
  '  ostree admin undeploy "$i"',
  'done',
].join('\n');

export function undeployById(node: string, ids: string[]): RemoteCommand {
  return remote(node, ['sh', '-c', UNDEPLOY_BY_ID, 'undeploy-by-id', ...ids], { sudo: true, timeoutSeconds: 600 });
}

/** Pins the booted deployment, found at run time (`pin 0` would pin a staged deployment, which ostree refuses). */
export const PIN_BOOTED = [
  'i=$(ostree admin status | awk \'/^(\\* |  )[^ ]/ { n++; if ($1 == "*") print n - 1 }\')',
  '[ -n "$i" ] || { echo "no booted deployment" >&2; exit 1; }',
  'ostree admin pin "$i"',
].join('\n');

export function pinBooted(node: string): RemoteCommand {
  return remote(node, ['sh', '-c', PIN_BOOTED, 'pin-booted'], { sudo: true, timeoutSeconds: 120 });
}

export function deploymentsOf(node: string): RemoteCommand {
  return remote(node, ['rpm-ostree', 'status', '--json'], { sudo: true, timeoutSeconds: 60 });
}
