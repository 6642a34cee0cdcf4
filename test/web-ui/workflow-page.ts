// The Web UI's page of one workflow run: its status and the "Current details" markdown (User Metadata
// tab). The "Send an Update" dialog is scripts/web-ui/update-dialog.ts (tour-check uses it too).
import type { Locator, Page } from 'playwright-core';
import { waitFor } from '../harness.js';

/** Opens the run from its row in the workflow list (the workflow id link) and waits for its page. */
export async function openRunFromList(page: Page, row: Locator, workflowId: string): Promise<void> {
  await row.getByRole('link', { name: workflowId, exact: true }).click();
  await page.waitForURL((u) => u.pathname.includes(`/workflows/${encodeURIComponent(workflowId)}/`));
  await page.getByRole('main').getByRole('heading', { level: 1, name: workflowId }).waitFor();
}

/** The run's status badge as the UI shows it ("Running", "Completed", ...). */
export function statusBadge(page: Page, status: string): Locator {
  return page
    .getByRole('main')
    .getByRole('status')
    .filter({ hasText: new RegExp(`^\\s*${status}\\s*$`, 'i') });
}

/** Waits for the run's status badge to read `status` (the page refreshes a running workflow by itself). */
export async function waitForStatus(page: Page, status: string, timeoutMs = 30_000): Promise<void> {
  await statusBadge(page, status).first().waitFor({ timeout: timeoutMs });
}

/**
 * The rendered "Current details" markdown (User Metadata tab; the UI renders it in an iframe titled
 * "output"), once it contains `expected`. The panel is a snapshot: pressing R refreshes it.
 */
export async function currentDetails(page: Page, expected: string, timeoutMs = 15_000): Promise<string> {
  const main = page.getByRole('main');
  await main.getByRole('tab', { name: 'User Metadata' }).click();
  await main.getByRole('heading', { name: 'Current Details' }).waitFor();
  const body = main.frameLocator('iframe[title="output"]').locator('body');
  return waitFor(
    `"${expected}" in the Current Details panel`,
    async () => {
      const text = await body.innerText({ timeout: 2_000 });
      if (text.includes(expected)) return text;
      await page.keyboard.press('r');
      return false;
    },
    timeoutMs,
  );
}
