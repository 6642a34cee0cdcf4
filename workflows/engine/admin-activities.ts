// The engine's own activities (hosts, policy, approval signatures): one set of options for every caller,
// so a run's start and its gates retry them the same way. `adminAs(summary)` is the same proxy with the
// line the Web UI's timeline shows for the call ("check the hosts: lava-master, backup-store"), instead of
// the bare activity name.
import { proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import type { RunbookActivities } from '../../activities/index.js';

const ADMIN_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['UnknownHost', 'InvalidConfig'] },
};

export const admin = proxyActivities<RunbookActivities>(ADMIN_OPTIONS);

export const adminAs = (summary: string): RunbookActivities => proxyActivities<RunbookActivities>({ ...ADMIN_OPTIONS, summary: summary.slice(0, 200) });

/** The same options as a local activity: for a short check the workflow waits on inside one workflow task. */
export const adminLocalAs = (summary: string): RunbookActivities =>
  proxyLocalActivities<RunbookActivities>({ ...ADMIN_OPTIONS, summary: summary.slice(0, 200) });
