// Shipping new runbook code (Worker Versioning): start the new build's worker beside the old one, promote
// it, wait until no open run is pinned to the old build, then stop the old worker.
import type { Command } from 'commander';
import pc from 'picocolors';
import type { Client } from '@temporalio/client';
import { drained, pollingBuilds, promote, rolloutStatus } from '../../workers/deployment.js';
import { buildIdOf, bundleWorkflows } from '../../workers/workflow-bundle.js';
import { print } from './output.js';
import { TASK_QUEUE, withClient } from './session.js';

const deploymentOption = ['--deployment <name>', 'the Worker Deployment (default: the task queue, RUNBOOK_TASK_QUEUE)', TASK_QUEUE] as const;

/**
 * Why a run may not move: it is pinned to a build no worker polls for (stopped too early, or never
 * deployed here). Its tasks wait on the server until a worker of that build polls again; queries (the
 * status, the Web UI's current details) and Updates get no answer meanwhile, signals are kept.
 */
export async function unservedPin(c: Client, workflowId: string, taskQueue = TASK_QUEUE): Promise<string | undefined> {
  const d = await c.workflow.getHandle(workflowId).describe();
  const v = d.raw.workflowExecutionInfo?.versioningInfo;
  const buildId = v?.deploymentVersion?.buildId;
  if (d.status.name !== 'RUNNING' || !buildId || String(v?.behavior) !== '1') return undefined; // 1: VERSIONING_BEHAVIOR_PINNED
  if ((await pollingBuilds(c, taskQueue)).has(buildId)) return undefined;
  return `pinned to build ${buildId}, which no worker serves: start a worker of that build (or \`runbook rollout status\`)`;
}

export function registerRollout(program: Command): void {
  const rollout = program.command('rollout').description('ship new runbook code: builds, promote, drain (Worker Versioning)');

  rollout
    .command('status')
    .description('the builds of the deployment: current or not, open runs pinned to each, whether a worker polls for it')
    .option(...deploymentOption)
    .option('--json', 'machine-readable output')
    .action(async (o: { deployment: string; json?: boolean }) => {
      await withClient(async (c) => {
        const s = await rolloutStatus(c, o.deployment, TASK_QUEUE);
        print(o.json, { deployment: o.deployment, ...s }, () =>
          s.versions.length
            ? s.versions
                .map(
                  (v) =>
                    `${v.buildId === s.current ? pc.green('* ') : '  '}${v.buildId}  ${v.status.padEnd(9)} ${String(v.pinnedOpen).padStart(4)} pinned open  ` +
                    `${String(v.open).padStart(4)} open  ${v.polled ? 'worker polling' : pc.dim('no worker')}${v.pinnedOpen && !v.polled ? pc.red('  runs waiting for a worker of this build') : ''}`,
                )
                .join('\n')
            : `no worker of deployment ${o.deployment} has polled yet`,
        );
      });
    });

  rollout
    .command('promote')
    .description('make a build current: new runs start on it, auto-upgrade runs move to it; pinned runs stay where they are')
    .argument('<buildId>')
    .option(...deploymentOption)
    .option('--json', 'machine-readable output')
    .action(async (buildId: string, o: { deployment: string; json?: boolean }) => {
      await withClient(async (c) => {
        const r = await promote(c, { deploymentName: o.deployment, buildId });
        print(o.json, { deployment: o.deployment, current: buildId, ...r }, () =>
          [
            pc.green(`${buildId} is current in ${o.deployment}`),
            ...(r.previous ? [`runs pinned to ${r.previous} stay on it; stop its workers once \`runbook rollout drained ${r.previous}\` says so`] : []),
          ].join('\n'),
        );
      });
    });

  rollout
    .command('drained')
    .description('whether an old build still has open pinned runs; exit 0 when its workers can be stopped, 3 when not')
    .argument('<buildId>')
    .option(...deploymentOption)
    .option('--json', 'machine-readable output')
    .action(async (buildId: string, o: { deployment: string; json?: boolean }) => {
      await withClient(async (c) => {
        const r = await drained(c, { deploymentName: o.deployment, buildId });
        print(o.json, { buildId, ...r }, () =>
          r.drained
            ? pc.green(`${buildId}: drained; its workers can be stopped`)
            : r.serving
              ? pc.yellow(`${buildId}: still current (or ramping): promote another build first`)
              : pc.yellow(`${buildId}: ${r.pinnedOpen} open run(s) pinned to it; keep its worker until they end`),
        );
        if (!r.drained) process.exitCode = 3;
      });
    });

  rollout
    .command('build-id')
    .description('the build id of the workflow code in this checkout (the hash of its bundle), as its worker will register it')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const buildId = buildIdOf(await bundleWorkflows());
      print(o.json, { buildId }, () => buildId);
    });
}
