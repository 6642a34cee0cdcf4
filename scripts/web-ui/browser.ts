// A real, headless Chromium (Debian's `chromium` package, never a downloaded browser) driven by
// playwright-core, pointed at the Temporal Web UI of the suite's dev server. A fresh profile per
// launch; every request that does not go to the UI itself is refused (the UI asks
// newsfeed.temporal.io for news: a test never leaves the machine).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface UiBrowser {
  page: Page;
  /** The UI's base address, e.g. http://127.0.0.1:8243. */
  base: string;
  /** Saves a full-page screenshot as <artifacts>/<name>.png and returns its path. */
  shot(name: string): Promise<string>;
  /** Uncaught errors of the UI's own JavaScript, for failure messages. */
  pageErrors: string[];
  close(): Promise<void>;
}

/** `codec`: a codec server the UI is pointed at (its "Configure data encoder" settings, credentials included). */
export async function openUi(base: string, artifactsDir: string, opts: { codec?: string } = {}): Promise<UiBrowser> {
  mkdirSync(artifactsDir, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'runbooks-web-ui-'));
  let context: BrowserContext;
  try {
    // launchPersistentContext passes --user-data-dir=<profile> itself (Playwright refuses it in args).
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
      viewport: { width: 1400, height: 1000 },
      timezoneId: 'UTC',
      locale: 'en-US',
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw new Error(`could not start ${CHROMIUM} (Debian package "chromium", see scripts/debian-packages.txt): ${String(err)}`);
  }
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(30_000);
  await context.route(
    (url) => !url.href.startsWith(base) && !(opts.codec && url.href.startsWith(opts.codec)),
    (route) => route.abort(),
  );
  if (opts.codec) {
    // The UI's own persisted codec settings (localStorage, JSON values): endpoint, "Include cross-origin
    // credentials" (the codec server's session cookie goes with each call), and "use mine, not the server's".
    const settings = { endpoint: opts.codec, includeCredentials: true, passAccessToken: false, overrideRemoteCodecConfiguration: true };
    const script = Object.entries(settings)
      .map(([k, v]) => `window.localStorage.setItem(${JSON.stringify(k)}, ${JSON.stringify(JSON.stringify(v))});`)
      .join('\n');
    await context.addInitScript({ content: script });
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return {
    page,
    base,
    pageErrors,
    async shot(name) {
      const path = join(artifactsDir, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
