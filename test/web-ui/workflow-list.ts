// The Web UI's workflow list filtered by a visibility query typed into its raw-query box.
import type { Locator, Page } from 'playwright-core';
import { waitFor } from '../harness.js';

/**
 * Opens the workflows page, types `query` into the raw query box, searches, and waits (refreshing the
 * list with its own Refresh button: the list does not refresh by itself) until a row for `workflowId`
 * is there. Returns that row.
 */
export async function findInList(page: Page, base: string, query: string, workflowId: string, timeoutMs = 30_000): Promise<Locator> {
  await page.goto(`${base}/namespaces/default/workflows`);
  const main = page.getByRole('main');
  const box = main.getByRole('searchbox', { name: 'Enter a query' });
  await main.getByRole('button', { name: 'Add Filter' }).waitFor();
  if (!(await box.isVisible())) {
    // The raw-query toggle is an icon button without an accessible name (only a hover tooltip
    // "Show raw query"): its test id is the one stable handle on it.
    await main.getByTestId('toggle-manual-query').click();
  }
  await box.fill(query);
  await main.getByRole('search').getByRole('button', { name: 'Search' }).click();
  await page.waitForURL((u) => u.searchParams.get('query') === query);

  const table = main.getByRole('table', { name: 'Workflows' });
  const row = table.getByRole('row').filter({ has: page.getByRole('link', { name: workflowId, exact: true }) });
  await refreshUntilShown(page, row, `${workflowId} in the Web UI's list for ${query}`, timeoutMs);
  return row;
}

/**
 * The workflows page as it opens, with no query (what a person sees first), once a row for `workflowId`
 * is there: the text of every row.
 */
export async function defaultListRows(page: Page, base: string, workflowId: string, timeoutMs = 30_000): Promise<string[]> {
  await page.goto(`${base}/namespaces/default/workflows`);
  const main = page.getByRole('main');
  const table = main.getByRole('table', { name: 'Workflows' });
  const row = table.getByRole('row').filter({ has: page.getByRole('link', { name: workflowId, exact: true }) });
  await refreshUntilShown(page, row, `${workflowId} in the Web UI's default list`, timeoutMs);
  return await table.getByRole('row').allInnerTexts();
}

/** The list does not refresh by itself: its own Refresh button, until the row is there. */
async function refreshUntilShown(page: Page, row: Locator, what: string, timeoutMs: number): Promise<void> {
  const main = page.getByRole('main');
  await waitFor(
    what,
    async () => {
      if (await row.isVisible()) return true;
      await main.getByRole('button', { name: 'Refresh', exact: true }).click();
      await row.waitFor({ timeout: 1_000 }).catch(() => undefined);
      return row.isVisible();
    },
    timeoutMs,
  );
}
