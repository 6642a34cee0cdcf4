// Custom search attributes. The dev-server start registers exactly these (scripts/temporal-server.ts);
// a production cluster needs them once: `temporal operator search-attribute create` (see README).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RunbookName = defineSearchAttributeKey('RunbookName', SearchAttributeType.KEYWORD);
export const RunbookStatus = defineSearchAttributeKey('RunbookStatus', SearchAttributeType.KEYWORD);
export const RunbookGate = defineSearchAttributeKey('RunbookGate', SearchAttributeType.KEYWORD);
export const RunbookHosts = defineSearchAttributeKey('RunbookHosts', SearchAttributeType.KEYWORD_LIST);
/** The procedure's own states where it has them (snoPreUpgradeBackup: PreparingToStart … Succeeded/Timeout/Error). */
export const RunbookPhase = defineSearchAttributeKey('RunbookPhase', SearchAttributeType.KEYWORD);

export const runbookSearchAttributes = [RunbookName, RunbookStatus, RunbookGate, RunbookHosts, RunbookPhase];

export type RunbookStatusValue = 'Running' | 'AwaitingApproval' | 'Parked' | 'Completed' | 'Failed' | 'Aborted';
