// What people see of a run while it goes: status and gate as search attributes, the Web UI's current
// details, the procedure's phase, notifications. Notifications never hold up a recovery.
import { log, proxyActivities, setCurrentDetails, upsertSearchAttributes, type ActivityOptions } from '@temporalio/workflow';
import type { RunbookActivities } from '../../activities/index.js';
import { renderDetails } from './details.js';
import { errorText } from './failures.js';
import { RunbookGate, RunbookPhase, RunbookStatus, type RunbookStatusValue } from './search-attributes.js';
import { clipText, MAX_IGNORED } from './messages.js';
import type { RunState } from './state.js';

const NOTIFY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
};
const notifier = proxyActivities<RunbookActivities>(NOTIFY_OPTIONS);

export function setStatus(s: RunState, status: RunbookStatusValue, gateName?: string): void {
  s.view.status = status;
  upsertSearchAttributes([
    { key: RunbookStatus, value: status },
    { key: RunbookGate, value: gateName ?? null },
  ]);
  refresh(s);
}

export function refresh(s: RunState): void {
  setCurrentDetails(renderDetails(s.view, s.info.workflowId));
}

export function setPhase(s: RunState, phase: string): void {
  if (s.view.phase === phase) return;
  s.phaseSince = new Date();
  s.view.phase = phase;
  upsertSearchAttributes([{ key: RunbookPhase, value: phase }]);
}

/** Fire and forget: a webhook that is down is retried with backoff but never holds up a recovery. */
export function notify(s: RunState, event: string, text: string): void {
  notifier.notify
    .executeWithOptions({ ...NOTIFY_OPTIONS, summary: `notify: ${event}${s.openGate ? ` (gate ${s.openGate.name})` : ''}` }, [
      {
        event,
        runbook: s.def.name,
        workflowId: s.info.workflowId,
        gate: s.openGate?.name,
        ...(s.openGate ? { opening: { runId: s.info.runId, nonce: s.openGate.nonce, fingerprint: s.openGate.fingerprint } } : {}),
        text,
        details: renderDetails(s.view, s.info.workflowId),
      },
    ])
    .catch((err) => log.warn('notification failed', { event, error: errorText(err) }));
}

/** A message that did not count, with why: shown in current details and the result. */
export function ignore(s: RunState, kind: 'approval' | 'decision', m: { approver?: string; operator?: string } | undefined, why: string): void {
  const by = clipText((m && (m.approver ?? m.operator)) || 'unknown', 100);
  const entry = { kind, by, at: new Date().toISOString(), why: clipText(why) };
  s.view.ignoredTotal = (s.view.ignoredTotal ?? 0) + 1;
  s.view.ignored.push(entry);
  if (s.view.ignored.length > MAX_IGNORED) s.view.ignored.splice(0, s.view.ignored.length - MAX_IGNORED);
  // Logged while few; a flood is counted, not logged line by line.
  if (s.view.ignoredTotal <= MAX_IGNORED) log.warn('ignored message', entry);
}
