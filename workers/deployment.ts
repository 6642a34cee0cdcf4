// The rollout side of Worker Versioning: which builds a Worker Deployment has, which one is current, how
// many open runs are pinned to each, who polls for each. Used by the worker (its first build makes itself
// current), the `runbook rollout` commands and the tests.
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';

const { temporal } = proto;
const GRPC_NOT_FOUND = 5;

export interface DeploymentVersion {
  deploymentName: string;
  buildId: string;
}

export interface VersionRow {
  buildId: string;
  /** current | ramping | draining | drained | inactive (the server's view; drainage is refreshed every few minutes). */
  status: string;
  createdAt?: string;
  /** Open runs pinned to this build (visibility): they run only on a worker of this build. */
  pinnedOpen: number;
  /** Open runs last run by this build, pinned or not. */
  open: number;
  /** A worker of this build polled the task queue lately (the server keeps pollers for a few minutes). */
  polled: boolean;
}

/** How visibility names a version (the TemporalWorkerDeploymentVersion search attribute). */
export const versionKey = (v: DeploymentVersion): string => `${v.deploymentName}:${v.buildId}`;

const quote = (s: string): string => `"${s.replace(/["\\]/g, '')}"`;

export const pinnedRunsQuery = (v: DeploymentVersion): string =>
  `TemporalWorkerDeploymentVersion = ${quote(versionKey(v))} AND TemporalWorkflowVersioningBehavior = "Pinned" AND ExecutionStatus = "Running"`;

const openRunsQuery = (v: DeploymentVersion): string => `TemporalWorkerDeploymentVersion = ${quote(versionKey(v))} AND ExecutionStatus = "Running"`;

const statusName = (s: proto.temporal.api.enums.v1.WorkerDeploymentVersionStatus | null | undefined): string =>
  (temporal.api.enums.v1.WorkerDeploymentVersionStatus[s ?? 0] ?? 'UNSPECIFIED').replace('WORKER_DEPLOYMENT_VERSION_STATUS_', '').toLowerCase();

const isNotFound = (err: unknown): boolean => (err as { code?: number }).code === GRPC_NOT_FOUND;

const iso = (t: { seconds?: unknown } | null | undefined): string | undefined =>
  t?.seconds ? new Date(Number(t.seconds as number | bigint) * 1000).toISOString() : undefined;

/** The deployment's builds and its current one; undefined when no worker of it ever polled. */
export async function describeDeployment(
  client: Client,
  deploymentName: string,
): Promise<{ current?: string; ramping?: string; versions: { buildId: string; status: string; createdAt?: string }[] } | undefined> {
  try {
    const r = await client.workflowService.describeWorkerDeployment({ namespace: client.options.namespace, deploymentName });
    const info = r.workerDeploymentInfo;
    return {
      current: info?.routingConfig?.currentDeploymentVersion?.buildId || undefined,
      ramping: info?.routingConfig?.rampingDeploymentVersion?.buildId || undefined,
      versions: (info?.versionSummaries ?? []).map((s) => ({
        buildId: s.deploymentVersion?.buildId ?? '',
        status: statusName(s.status),
        createdAt: iso(s.createTime),
      })),
    };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Build ids of the workers that polled this task queue lately (workflow tasks). */
export async function pollingBuilds(client: Client, taskQueue: string): Promise<Set<string>> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return new Set((r.pollers ?? []).map((p) => p.deploymentOptions?.buildId).filter((b): b is string => !!b));
}

export async function countRuns(client: Client, query: string): Promise<number> {
  return (await client.workflow.count(query)).count;
}

/** Every build of the deployment with its pinned and open runs, newest first. */
export async function rolloutStatus(client: Client, deploymentName: string, taskQueue: string): Promise<{ current?: string; versions: VersionRow[] }> {
  const d = await describeDeployment(client, deploymentName);
  if (!d) return { versions: [] };
  const polling = await pollingBuilds(client, taskQueue);
  const versions: VersionRow[] = [];
  for (const v of d.versions) {
    const version = { deploymentName, buildId: v.buildId };
    versions.push({
      ...v,
      pinnedOpen: await countRuns(client, pinnedRunsQuery(version)),
      open: await countRuns(client, openRunsQuery(version)),
      polled: polling.has(v.buildId),
    });
  }
  versions.sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
  return { current: d.current, versions };
}

/** Makes a build current: new runs start on it, auto-upgrade runs move to it at their next task. */
export async function promote(client: Client, v: DeploymentVersion, identity = 'runbook rollout'): Promise<{ previous?: string }> {
  const r = await client.workflowService.setWorkerDeploymentCurrentVersion({
    namespace: client.options.namespace,
    deploymentName: v.deploymentName,
    buildId: v.buildId,
    identity,
  });
  return { previous: r.previousDeploymentVersion?.buildId || undefined };
}

/**
 * Drained: no open run is pinned to the build and it is neither current nor ramping, so its workers can be
 * stopped. Counted in visibility (at once) rather than taken from the server's drainage status (refreshed
 * every few minutes).
 */
export async function drained(client: Client, v: DeploymentVersion): Promise<{ drained: boolean; pinnedOpen: number; serving: boolean }> {
  const d = await describeDeployment(client, v.deploymentName);
  const serving = d?.current === v.buildId || d?.ramping === v.buildId;
  const pinnedOpen = await countRuns(client, pinnedRunsQuery(v));
  return { drained: !serving && pinnedOpen === 0, pinnedOpen, serving };
}

/**
 * A worker's first build becomes current by itself (a new deployment has none, and without one new runs
 * would wait for an unversioned worker that never comes); with `always`, every build does (a single
 * developer worker, `npm start`). Later builds otherwise wait for `runbook rollout promote`. The version
 * exists only once the worker has polled, so this waits for it (bounded).
 */
export async function promoteOnStart(
  client: Client,
  v: DeploymentVersion,
  mode: 'first' | 'always',
  timeoutMs = 60_000,
): Promise<'promoted' | 'current' | 'left'> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await describeDeployment(client, v.deploymentName);
    if (d?.current === v.buildId) return 'current';
    if (d?.versions.some((x) => x.buildId === v.buildId)) {
      if (d.current && mode === 'first') return 'left';
      await promote(client, v, 'worker start');
      return 'promoted';
    }
    if (Date.now() > deadline) throw new Error(`build ${v.buildId} did not appear in deployment ${v.deploymentName} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
