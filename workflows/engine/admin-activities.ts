// The engine's own activities (hosts, policy, approval signatures): one set of options for every caller,
// so a run's start and its gates retry them the same way.
import { proxyActivities } from '@temporalio/workflow';
import type { RunbookActivities } from '../../activities/index.js';

export const admin = proxyActivities<RunbookActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['UnknownHost', 'InvalidConfig'] },
});
