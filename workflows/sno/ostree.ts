// The node's ostree deployments as the runbooks see them (`rpm-ostree status --json`), and the seed's
// rollback decision table. Pure functions: the gates show which row applied, the tests feed real output.
import { remote, type RemoteCommand } from '../engine/commands.js';
import pinBootedScript from './scripts/pin-booted.sh';
import undeployByIdScript from './scripts/undeploy-by-id.sh';

/** Shown first at every recovery gate that precedes a change (procedures.md C4, recovery step 1). */
export const DELETE_CGU_FIRST =
  'BEFORE approving: delete the ClusterGroupUpgrade on the hub (oc delete cgu <name> -n <namespace>); otherwise TALM starts a new backup Job that WIPES the recovery directory';

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

export type RollbackRow = 'single-pinned' | 'pinned-is-rollback' | 'pinned-behind-standbys' | 'booted-pinned' | 'no-pinned' | 'pinned-pending' | 'queued-ahead';

/** Rows that need a human, not a command. */
export const REFUSED_ROWS: RollbackRow[] = ['no-pinned', 'pinned-pending', 'queued-ahead'];

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
  // A staged or pending deployment ahead of the booted one becomes the default at the next shutdown: every
  // reboot of the recovery (stage 1 included) would bring the node back on it, and etcd would be restored
  // onto the failed upgrade. The seed's table assumes none; refuse and say how to remove it.
  const ahead = ds.filter((d) => d !== pinned && (d.staged || d.index < booted.index));
  if (ahead.length && pinned.index >= booted.index) {
    return {
      row: 'queued-ahead',
      says: `a ${ahead[0]!.staged ? 'staged' : 'pending'} deployment (${describeDeployment(ahead[0]!)}) is queued ahead of the booted one: the next reboot would boot it and the recovery would land on the failed upgrade; remove it first (rpm-ostree cleanup --pending, or ostree admin undeploy ${ahead[0]!.index}), then run the recovery again`,
      undeploy: [],
      rollback: false,
      pinned,
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

/** Undeploys by identity (<checksum>.<serial>), never by an index read earlier: scripts/undeploy-by-id.sh says why. Safe to re-run. */
export function undeployById(node: string, ids: string[]): RemoteCommand {
  return remote(node, ['sh', '-c', undeployByIdScript, 'undeploy-by-id', ...ids], { sudo: true, timeoutSeconds: 600 });
}

/** Pins the booted deployment, found at run time (`pin 0` would pin a staged deployment, which ostree refuses). */
export function pinBooted(node: string): RemoteCommand {
  return remote(node, ['sh', '-c', pinBootedScript, 'pin-booted'], { sudo: true, timeoutSeconds: 120 });
}

export function deploymentsOf(node: string): RemoteCommand {
  return remote(node, ['rpm-ostree', 'status', '--json'], { sudo: true, timeoutSeconds: 60 });
}

export const describeAll = (ds: Deployment[]): string => ds.map(describeDeployment).join('; ');

/** What the recovery found before touching the platform: the deployments, the table row, and the boot id to see the rollback reboot by. */
export interface Platform {
  deployments: Deployment[];
  plan: RollbackPlan;
  bootId: string;
}

export function classifyPlatform(statusJson: string, bootId: string): Platform {
  const deployments = parseDeployments(statusJson);
  return { deployments, plan: planRollback(deployments), bootId: bootId.trim() };
}

/** Why the recovery must not act on this platform state (a row that needs a human), or undefined. */
export function refusalOf(p: Platform): string | undefined {
  return REFUSED_ROWS.includes(p.plan.row) ? `${p.plan.says} (${describeAll(p.deployments)})` : undefined;
}

/** Before `rpm-ostree rollback -r`: "rollback" (the deployment after the booted one) must be the pinned one. */
export function pinnedIsRollback(ds: Deployment[]): string | undefined {
  const b = ds.findIndex((d) => d.booted);
  return ds[b + 1]?.pinned ? undefined : `the deployment after the booted one is not the pinned one: ${describeAll(ds)}`;
}

/** After any reboot of the recovery: the node booted the deployment the plan said it would (by identity). */
export function bootedAsPlanned(ds: Deployment[], expected: string): string | undefined {
  const booted = ds.find((d) => d.booted);
  if (booted && deploymentId(booted) === expected) return undefined;
  return `the node came back on ${booted ? describeDeployment(booted) : 'no booted deployment'}, not on ${expected}: stop before anything is restored onto it`;
}

/** The deployment booted now, by identity: what the next reboot must come back on. */
export function bootedId(ds: Deployment[]): string {
  const booted = ds.find((d) => d.booted);
  if (!booted) throw new Error('rpm-ostree reports no booted deployment');
  return deploymentId(booted);
}

/** After the rollback reboot: the pinned deployment is the booted one. */
export function pinnedIsBooted(ds: Deployment[]): string | undefined {
  const booted = ds.find((d) => d.booted);
  return booted?.pinned ? undefined : `after the rollback the booted deployment is not the pinned one: ${booted ? describeDeployment(booted) : 'none'}`;
}

/** Before the backup pins anything: a staged deployment means an upgrade is under way (ostree refuses to pin it). */
export function readyToPin(ds: Deployment[]): string | undefined {
  const staged = ds.find((d) => d.staged);
  if (staged)
    return `a deployment is staged for the next boot (${describeDeployment(staged)}): an upgrade is under way; pinning would be refused (ostree: "Cannot pin staged deployment")`;
  return ds.some((d) => d.booted) ? undefined : 'rpm-ostree reports no booted deployment';
}

/** What the backup removes: every deployment but the booted one. */
export const standbysOf = (ds: Deployment[]): Deployment[] => ds.filter((d) => !d.booted);

/** After the backup's undeploy and pin: one deployment, booted and pinned (the table's first row). */
export function onlyBootedPinned(ds: Deployment[]): string | undefined {
  return ds.length === 1 && ds[0]!.booted && ds[0]!.pinned ? undefined : `expected one booted, pinned deployment, found: ${describeAll(ds)}`;
}

/** `ostree admin status`: the booted entry starts with "*", and "Pinned: yes" is among its indented lines. */
export function bootedPinnedInAdminStatus(text: string): boolean {
  const booted = text.split(/\n(?=[* ] \S)/).find((b) => b.startsWith('* '));
  return Boolean(booted?.includes('Pinned: yes'));
}

/** The undeploy-standbys gate: the table row, then each deployment and whether it goes. */
export function undeployNote(p: Platform): string[] {
  const going = new Set(p.plan.undeploy.map(deploymentId));
  return [
    DELETE_CGU_FIRST,
    `table row: ${p.plan.says}`,
    ...p.deployments.map((d) => `  ${going.has(deploymentId(d)) ? 'REMOVE' : 'keep  '} ${describeDeployment(d)}`),
  ];
}

/** The platform-rollback gate: the table row, what is booted next, and the boot id the reboot is recognised by. */
export function rollbackNote(p: Platform): string[] {
  return [
    DELETE_CGU_FIRST,
    `table row: ${p.plan.says}`,
    `roll back to ${p.plan.pinned ? describeDeployment(p.plan.pinned) : '(no pinned deployment)'}; the node REBOOTS (boot id now ${p.bootId})`,
  ];
}

/** The backup's remove-standby-deployments gate: every deployment but the booted one goes. */
export function removeStandbysNote(ds: Deployment[]): string[] {
  return [
    'the booted deployment is pinned and every other deployment is REMOVED (ostree admin undeploy):',
    ...ds.map((d) => `  ${d.booted ? 'keep  ' : 'REMOVE'} ${describeDeployment(d)}`),
  ];
}
