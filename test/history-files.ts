// Recorded histories for replay tests. `RECORD_HISTORIES=1 npm test` refreshes test/histories/*.json from
// real runs; otherwise saving is a no-op and the replay test checks the committed files.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

export const historiesDir = join(process.cwd(), 'test', 'histories');

export async function saveHistory(h: WorkflowHandle, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  writeFileSync(join(historiesDir, `${name}.json`), historyToJSON(await h.fetchHistory()));
}
