// Recorded histories for replay tests. `RECORD_HISTORIES=1 npm test` refreshes test/histories/*.json from
// real runs; otherwise saving is a no-op and the replay test checks the committed files.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

export const historiesDir = join(process.cwd(), 'test', 'histories');

/**
 * Files are `<label>__<workflowId>.json` holding the history exactly as `temporal workflow show -o json`
 * prints it. The workflow id matters: replay must run under the original id, because runbooks derive
 * host paths (and so plan fingerprints) from it.
 */
export async function saveHistory(h: WorkflowHandle, label: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  writeFileSync(join(historiesDir, `${label}__${h.workflowId}.json`), historyToJSON(await h.fetchHistory()));
}

export function workflowIdOf(file: string): string {
  const m = /__(.+)\.json$/.exec(file);
  if (!m) throw new Error(`${file}: history files are named <label>__<workflowId>.json`);
  return m[1]!;
}
