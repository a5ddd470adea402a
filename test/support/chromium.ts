/**
 * Debian's Chromium for the web UI's browser tests, through playwright-core: one headless
 * persistent context on a fresh profile, removed again by its close().
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildServer } from '../../src/compose/servers.ts';
import type { Fleet } from '../../src/fleet/fleet.ts';

const CHROMIUM = '/usr/bin/chromium';
/** Where the browser tests keep their screenshots (gitignored). */
export const ARTIFACTS = join(import.meta.dirname, '..', '..', 'artifacts', 'web');

/**
 * Starts Chromium on a new profile (a user-data-dir of its own); close() also removes the profile.
 * @example
 * const browser = await launchChromium(); ... await browser.close();
 */
export async function launchChromium(): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'pvhctl-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1360, height: 900 },
  });
  // The profile goes once close() has returned, not on the context's 'close' event: that event
  // can come while Chromium's last processes still write into the profile, and a removal racing
  // them threw ENOTEMPTY out of the event handler into the test runner (a whole-suite run failed
  // on it). A profile that still cannot be removed is left in /tmp rather than fail a test.
  const close = context.close.bind(context);
  context.close = async (...args: Parameters<BrowserContext['close']>) => {
    await close(...args);
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch {
      // left behind in the temporary directory
    }
  };
  return context;
}

/**
 * Opens the web UI at `base` and signs in with `token`; no dialog may open on the page.
 * @example
 * const page = await signIn(browser, 'http://127.0.0.1:8080', operatorToken);
 */
export async function signIn(browser: BrowserContext, base: string, token: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('dialog', () => assert.fail('no dialog may open'));
  await page.goto(`${base}/`);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('#who .role');
  return page;
}

/** The web UI served on 127.0.0.1 over a fleet, and a Chromium to look at it; shot() saves a full-page screenshot as ARTIFACTS/NAME.png. */
export type UiUnderTest = { base: string; browser: BrowserContext; shot(page: Page, name: string): Promise<Buffer>; close(): Promise<void> };

/**
 * Serves the API and web UI (src/compose/servers.ts buildServer) over `fleet` on a free port of
 * 127.0.0.1 and starts Chromium; close() stops both (not the fleet).
 * @example
 * const ui = await startUi(fleet, bus); const page = await signIn(ui.browser, ui.base, token);
 */
export async function startUi(fleet: Fleet, bus: Parameters<typeof buildServer>[1]['bus']): Promise<UiUnderTest> {
  const app = await buildServer(fleet, { logger: pino({ level: 'silent' }), bus });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    base,
    browser,
    shot: (page, name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true }),
    close: async () => {
      await browser.close();
      await app.close();
    },
  };
}
