/**
 * The browser suite's tools: Debian's Chromium driven by playwright-core (Playwright cannot
 * download its own browser here), the dashboard opened with a fresh one-time token, screenshots
 * for the docs, and raw HTTP requests for what a browser would never send (a forged Host).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { TestDaemon } from '../helpers/daemons.js';

export const CHROMIUM = '/usr/bin/chromium';
const IMG = fileURLToPath(new URL('../../../docs/img/', import.meta.url));

/** Fails loudly without Chromium: CI installs it (.ci/run), so a skip would hide a broken set-up. */
export async function launch(args: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser suite needs Debian's Chromium at ${CHROMIUM}: run \`apt-get install -y chromium\` (.ci/run does)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args, timeout: 30_000 });
}

export interface UiToken {
  url: string;
  origin: string;
  token: string;
}

export async function uiToken(daemon: TestDaemon): Promise<UiToken> {
  return daemon.json<UiToken>(['ui']);
}

/** A new page logged in to `daemon`'s dashboard, sized like a laptop (or a phone). */
export async function openDashboard(
  browser: Browser,
  daemon: TestDaemon,
  viewport = { width: 1100, height: 800 },
  initScript?: () => void,
): Promise<{ page: Page; origin: string }> {
  const { url, origin } = await uiToken(daemon);
  const context = await browser.newContext({ viewport });
  if (initScript !== undefined) await context.addInitScript(initScript);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`page error on ${daemon.name}: ${err.message}`));
  await page.goto(url);
  await page.getByRole('navigation', { name: 'Screens' }).waitFor();
  return { page, origin };
}

export async function screen(page: Page, name: string): Promise<void> {
  await page
    .getByRole('navigation', { name: 'Screens' })
    .getByRole('button', { name: new RegExp(`^\\s*${name}`) })
    .click();
}

export async function screenshot(page: Page, file: string): Promise<void> {
  await mkdir(IMG, { recursive: true });
  await page.screenshot({ path: `${IMG}${file}.png`, fullPage: false });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTP request with exactly the given headers (a browser would not let us forge Host). */
export function raw(
  origin: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  const u = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: Number(u.port), path, method: options.method ?? 'POST', headers: options.headers ?? {}, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(options.body);
  });
}
