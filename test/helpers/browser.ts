// Headless Chromium for end-to-end tests: playwright-core driving Debian's /usr/bin/chromium.
// Never downloads a browser. Tests that need it should skip (with a clear message) when
// `browserAvailable()` is false; `.ci/run` installs the `chromium` package.
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Flags for this machine's closed network: without the background-networking ones Chromium
 * keeps trying (and failing) to reach Google's hosts. `*.localhost` already resolves to
 * loopback in Chromium; the resolver rule makes sure of it (ports are kept).
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP *.localhost 127.0.0.1',
];

export function browserAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export const BROWSER_SKIP_MESSAGE = `Chromium not installed at ${CHROMIUM_PATH} (apt-get install chromium; .ci/run does it)`;

export interface LaunchedBrowser {
  browser: Browser;
  /** A default context (fresh profile: no cookies, no storage). */
  context: BrowserContext;
  /** A new page in the default context. */
  newPage(): Promise<Page>;
  /** Another isolated context (a second user with its own cookies). */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
  close(): Promise<void>;
}

export interface LaunchBrowserOptions {
  /** Extra Chromium flags. */
  args?: string[];
  /** Options for the default context. */
  contextOptions?: BrowserContextOptions;
}

/**
 * Launch headless Chromium. `launch()` gives every browser a fresh temporary user-data-dir
 * (Playwright creates it and deletes it on close); each context is a separate, empty profile.
 */
export async function launchBrowser(options: LaunchBrowserOptions = {}): Promise<LaunchedBrowser> {
  if (!browserAvailable()) throw new Error(BROWSER_SKIP_MESSAGE);
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    chromiumSandbox: false,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
  });
  try {
    const context = await browser.newContext(options.contextOptions);
    return {
      browser,
      context,
      newPage: () => context.newPage(),
      newContext: (contextOptions) => browser.newContext(contextOptions),
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
