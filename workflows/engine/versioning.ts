// How a runbook meets a new build of the code (Worker Versioning). Its own module: workflows/index.ts
// needs it before any runbook module (and the engine) is loaded.
import type { VersioningBehavior } from '@temporalio/common';

/**
 * `pinned`: a run stays on the build it started on until it ends, so a run parked at a gate for days
 * carries on with exactly the steps its approvers saw. `auto-upgrade`: it moves to the current build at
 * its next task; only for short runs that change nothing (a changed procedure then needs `patched()`).
 */
export type RunbookVersioning = 'pinned' | 'auto-upgrade';

export const versioningBehaviorOf = (v: RunbookVersioning | undefined): VersioningBehavior => (v === 'auto-upgrade' ? 'AUTO_UPGRADE' : 'PINNED');
