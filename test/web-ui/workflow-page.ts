// The Web UI's page of one workflow run: its status, the "Current details" markdown (User Metadata
// tab) and the "Send an Update" dialog (More Actions menu).
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

export type UpdateOutcome = { accepted: true } | { accepted: false; error: string };

export interface UpdateDialog {
  dialog: Locator;
  /** The names in the Update name dropdown (from the workflow's metadata query), without descriptions. */
  names(): Promise<string[]>;
  choose(name: string): Promise<void>;
  fill(input: unknown): Promise<void>;
  /** Submits; accepted = the dialog closed with "Update successful", refused = the dialog shows the error. */
  submit(): Promise<UpdateOutcome>;
  cancel(): Promise<void>;
}

/** More Actions → Send an Update. */
export async function openUpdateDialog(page: Page): Promise<UpdateDialog> {
  const main = page.getByRole('main');
  await main.getByRole('button', { name: 'More Actions' }).click();
  await page.getByRole('menuitem', { name: 'Send an Update' }).click();
  const dialog = page.getByRole('dialog', { name: 'Send an Update' });
  await dialog.waitFor();
  const listbox = dialog.getByRole('listbox');
  const openList = async (): Promise<void> => {
    if (await listbox.isVisible()) return;
    // The name dropdown is a button holding a read-only textbox that shows the current choice.
    await dialog
      .getByRole('button')
      .filter({ has: page.getByRole('textbox') })
      .click();
    await listbox.waitFor();
  };
  return {
    dialog,
    async names() {
      await openList();
      // An option's accessible name is the handler name followed by its description.
      const labels = await listbox.getByRole('option').allInnerTexts();
      return labels.map((l) => l.trim().split(/\s+/)[0] ?? '');
    },
    async choose(name) {
      await openList();
      await listbox.getByRole('option', { name: new RegExp(`^${name}(\\s|$)`) }).click();
      await dialog.getByRole('button', { name, exact: true }).waitFor();
    },
    async fill(input) {
      const data = dialog.getByRole('textbox', { name: 'Data' });
      await data.fill(JSON.stringify(input));
      // Same trap as the Start Workflow form: blur first, the editor reformats and grows on blur.
      await data.blur();
    },
    async submit() {
      const error = dialog.getByRole('alert').filter({ hasText: /\S/ });
      if (await error.count()) throw new Error('the dialog still shows an earlier error: cancel and reopen it');
      await dialog.getByRole('button', { name: 'Submit', exact: true }).click();
      const closed = page.getByText('Update successful');
      await closed.or(error).first().waitFor({ timeout: 30_000 });
      if (await error.first().isVisible()) return { accepted: false, error: (await error.first().innerText()).trim() };
      await dialog.waitFor({ state: 'hidden' });
      return { accepted: true };
    },
    async cancel() {
      await dialog.getByRole('button', { name: 'Cancel', exact: true }).last().click();
      await dialog.waitFor({ state: 'hidden' });
    },
  };
}
