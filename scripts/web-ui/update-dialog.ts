// The Web UI's "Send an Update" dialog of a run's page (More Actions menu): the Update's name from the
// workflow's own handlers, one JSON object as its data, and what the UI says back.
import type { Locator, Page } from 'playwright-core';

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
