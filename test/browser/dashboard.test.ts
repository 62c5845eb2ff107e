/**
 * The dashboard in a real browser against two real daemons: open it with the one-time token, see
 * the peer appear, answer offers (a hostile name shown as text), pair by code on both dashboards,
 * drop a file on a peer and find it byte-identical in the other inbox. Screenshots of each screen
 * go to docs/img/ for the README.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { TestDaemon, waitFor } from '../helpers/daemons.js';
import { launch, openDashboard, screen, screenshot } from './browser.js';

// Page-side code below runs in the browser; the test build has no DOM types.
declare const window: any, document: any, sessionStorage: any, DataTransfer: any, File: any, atob: (s: string) => string;

const tag = randomBytes(2).toString('hex');
const A = `alice-${tag}`;
const B = `bob-${tag}`;
const HOSTILE = `<img src=x onerror="window.__pwned=1">${tag}.txt`;

describe('the dashboard with two daemons', { timeout: 150_000 }, () => {
  let browser: Browser;
  let alice: TestDaemon;
  let bob: TestDaemon;
  let pageA: Page;
  let pageB: Page;

  before(async () => {
    alice = await TestDaemon.create({ name: A, accept: 'ask' as 'trusted' });
    bob = await TestDaemon.create({ name: B, accept: 'ask' as 'trusted', extra: { askTimeoutSeconds: 60 } });
    // A loaded CI machine may take a while to start two daemons.
    [browser] = await Promise.all([launch(), alice.start(60_000), bob.start(60_000)]);
  });
  after(async () => {
    await browser?.close();
    await Promise.all([alice?.destroy(), bob?.destroy()]);
  });

  it('opens with the one-time token, removes it from the address, and shows the peer appear', async () => {
    ({ page: pageA } = await openDashboard(browser, alice));
    assert.equal(new URL(pageA.url()).hash, '', 'the token is gone from the address bar');
    assert.ok(await pageA.evaluate(() => sessionStorage.getItem('p2pd-session') !== null), 'the session lives in sessionStorage');
    assert.deepEqual(await pageA.context().cookies(), [], 'no cookie carries the login');
    // mDNS on a loaded machine can be slow; once the daemon lists the peer, the page must follow at once.
    await alice.waitForPeer(B, 60_000);
    const card = pageA.locator(`[data-peer="${B}"]`);
    await card.waitFor({ timeout: 10_000 }).catch(async (err: Error) => {
      const peers = await alice.cli(['peers']);
      const body = await pageA.evaluate(() => document.body.innerText as string);
      throw new Error(
        `the daemon lists the peer but the page does not show it: ${err.message}\n${peers.stdout}\npage:\n${body}\n${alice.log.split('\n').slice(-30).join('\n')}`,
      );
    });
    await card.getByText('online').waitFor();
    await card.getByText('unknown').waitFor();
    await screenshot(pageA, 'peers');
  });

  it('shows an offer at once, renders a hostile name as text, and rejects it', async () => {
    ({ page: pageB } = await openDashboard(browser, bob));
    await screen(pageB, 'Incoming');
    const file = join(alice.dir, HOSTILE);
    await writeFile(file, 'hostile');
    const sending = alice.cli(['send', B, file]);
    const card = pageB.locator('[data-offer]');
    await card.waitFor({ timeout: 15_000 });
    await card.getByText(HOSTILE, { exact: true }).waitFor();
    assert.equal(await pageB.evaluate(() => window.__pwned), undefined, 'the name ran no script');
    assert.equal(await pageB.locator('main img').count(), 0, 'the name made no element');
    assert.match(await pageB.title(), /^\(1\) p2pd$/, 'the count shows in the tab title');
    await screenshot(pageB, 'incoming');
    await card.getByRole('button', { name: 'Reject' }).click();
    const r = await sending;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /refused|rejected/i);
    await card.waitFor({ state: 'detached', timeout: 5000 });
    assert.equal(await pageB.title(), 'p2pd');
  });

  it('notifies of an offer while the tab is hidden, and counts it in the title', async () => {
    // A hidden tab and granted notifications, as a person who switched tabs would have.
    const { page } = await openDashboard(browser, bob, undefined, () => {
      const notes: string[] = [];
      (window as any).__notes = notes;
      Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' });
      (window as any).Notification = class {
        static permission = 'granted';
        static requestPermission = async () => 'granted';
        constructor(title: string, options: { body: string }) {
          notes.push(`${title}: ${options.body}`);
        }
      };
    });
    await screen(page, 'Incoming');
    const file = join(alice.dir, `while-hidden-${tag}.txt`);
    await writeFile(file, 'offered to a hidden tab');
    const sending = alice.cli(['send', B, file]);
    const card = page.locator('[data-offer]');
    try {
      await card.waitFor({ timeout: 15_000 });
      await waitFor(async () => (await page.title()) === '(1) p2pd', 5000, 'the count in the title');
      assert.deepEqual(await page.evaluate(() => window.__notes), [`p2pd: Files offered by ${A}`]);
    } finally {
      // Leave no offer waiting for the tests after this one.
      const waiting = await bob.json<{ offers: Array<{ id: string }> }>(['incoming']);
      for (const o of waiting.offers) await bob.cli(['reject', o.id]);
      await sending;
      await page.context().close();
    }
  });

  it('accepts an offer into a folder chosen inside the inbox, with a rename and a skip', async () => {
    const dir = join(alice.dir, `pack-${tag}`);
    await mkdir(dir);
    for (const n of ['a.txt', 'b.txt', 'c.txt']) await writeFile(join(dir, n), randomBytes(3000));
    const sending = alice.cli(['send', B, dir]);
    const card = pageB.locator('[data-offer]');
    await card.waitFor({ timeout: 15_000 });
    await card.getByRole('button', { name: /Folder, rename, skip/ }).click();
    await card.getByLabel('Into folder (inside the inbox)').fill('chosen');
    // Entries by index: 0 the folder, then a.txt, b.txt, c.txt.
    await card.locator('[data-entry="1"]').getByLabel('Save as').fill('renamed.txt');
    await card.locator('[data-entry="3"]').getByLabel('Skip').check();
    await screenshot(pageB, 'incoming-choices');
    await card.getByRole('button', { name: 'Accept' }).click();
    const r = await sending;
    assert.equal(r.code, 3, `a declined file makes the send partial (exit 3): ${r.stderr}`);
    assert.match(r.stdout, /Sent 2 of 3 files/);
    assert.match(r.stderr, /declined 1 file/);
    const landed = join(bob.inbox, 'chosen', `pack-${tag}`);
    assert.deepEqual((await readdir(landed)).sort(), ['b.txt', 'renamed.txt']);
    assert.deepEqual(await readFile(join(landed, 'renamed.txt')), await readFile(join(dir, 'a.txt')));
    await screen(pageA, 'Progress');
    await pageA.getByText('1 file was declined by the receiver; the others arrived verified.').first().waitFor({ timeout: 10_000 });
    await screen(pageA, 'Peers');
  });

  it('cancels a waiting send from the Progress screen, then retries it', async () => {
    await screen(pageA, 'Send');
    await pageA.getByLabel('Send to').selectOption({ label: B });
    const name = `retried-${tag}.txt`;
    const file = join(alice.dir, name);
    await writeFile(file, 'sent twice');
    await pageA.locator('input[type=file][multiple]').setInputFiles(file);
    await pageA.getByRole('button', { name: `Send 1 file to ${B}` }).click();
    const first = pageB.locator('[data-offer]');
    await first.waitFor({ timeout: 15_000 });
    const firstId = await first.getAttribute('data-offer');
    await screen(pageA, 'Progress');
    const row = pageA.locator('.transfer.waiting');
    await row.getByRole('button', { name: `Cancel transfer To ${B}` }).click();
    const cancelled = pageA.locator('.transfer.cancelled');
    await cancelled.waitFor({ timeout: 10_000 });
    await cancelled.getByRole('button', { name: `Retry transfer To ${B}` }).click();
    // The receiver may still list the cancelled offer until its sender's connection is noticed
    // gone: answer the new one.
    const offer = pageB.locator(`[data-offer]:not([data-offer="${firstId}"])`);
    await offer.waitFor({ timeout: 15_000 });
    await offer.getByRole('button', { name: 'Accept' }).click();
    await waitFor(async () => (await readdir(bob.inbox)).includes(name), 20_000, 'the retried file');
    assert.equal(await readFile(join(bob.inbox, name), 'utf8'), 'sent twice');
    await bob.cli(['reject', firstId!]);
    await screen(pageA, 'Peers');
  });

  it('pairs by code, confirmed on both dashboards', async () => {
    await screen(pageB, 'Peers');
    const cardA = pageA.locator(`[data-peer="${B}"]`);
    await cardA.getByRole('button', { name: `Pair with ${B} by code` }).click();
    const codeA = pageA.locator('.pairing .code');
    const codeB = pageB.locator('.pairing .code');
    await Promise.all([codeA.waitFor({ timeout: 15_000 }), codeB.waitFor({ timeout: 15_000 })]);
    const [a, b] = [await codeA.innerText(), await codeB.innerText()];
    assert.match(a, /^\d{3} \d{3}$/);
    assert.equal(a, b, 'both dashboards show the same code');
    await pageB
      .locator('.pairing')
      .getByText(/Only if it is exactly this one/)
      .waitFor();
    await screenshot(pageB, 'pairing');
    await pageB.getByRole('button', { name: 'Codes match' }).click();
    await pageA.getByRole('button', { name: 'Codes match' }).click();
    await cardA.getByText('trusted', { exact: true }).waitFor({ timeout: 15_000 });
    await pageB.locator(`[data-peer="${A}"]`).getByText('trusted', { exact: true }).waitFor({ timeout: 15_000 });
  });

  it('sends a dropped file to a peer; it lands byte-identical', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const name = `dropped-${tag}.bin`;
    const dt = await pageA.evaluateHandle(
      ({ b64, name }) => {
        const bin = atob(b64);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        const t = new DataTransfer();
        t.items.add(new File([bytes], name, { type: 'application/octet-stream' }));
        return t;
      },
      { b64: data.toString('base64'), name },
    );
    const card = pageA.locator(`[data-peer="${B}"]`);
    await card.dispatchEvent('dragover', { dataTransfer: dt });
    await card.dispatchEvent('drop', { dataTransfer: dt });
    const landed = join(bob.inbox, name);
    await waitFor(async () => (await readdir(bob.inbox)).includes(name), 30_000, 'the dropped file to land');
    assert.ok((await readFile(landed)).equals(data), 'the file arrived byte-identical');
    await screen(pageA, 'Progress');
    await pageA.locator('.transfer.done').first().waitFor({ timeout: 10_000 });
    await screenshot(pageA, 'progress');
    const staging = join(alice.dir, 'state', 'dashboard-uploads');
    await waitFor(async () => (await readdir(staging)).length === 0, 10_000, 'the staged upload to be removed');
  });

  it('sends with the file chooser and the path picker', async () => {
    await screen(pageA, 'Send');
    await pageA.getByLabel('Send to').selectOption({ label: B });
    const chosen = join(alice.dir, `chosen-${tag}.txt`);
    await writeFile(chosen, 'from the file chooser');
    await pageA.locator('input[type=file][multiple]').setInputFiles(chosen);
    await pageA.getByRole('button', { name: `Send 1 file to ${B}` }).click();
    await waitFor(async () => (await readdir(bob.inbox)).includes(`chosen-${tag}.txt`), 20_000, 'the chosen file');
    // A whole folder keeps its structure.
    const folder = join(alice.dir, `folder-${tag}`);
    await mkdir(join(folder, 'inner'), { recursive: true });
    await writeFile(join(folder, 'a.txt'), 'a');
    await writeFile(join(folder, 'inner', 'b.txt'), 'b');
    await pageA.locator('input[type=file][webkitdirectory]').setInputFiles(folder);
    await pageA.getByRole('button', { name: `Send 2 files to ${B}` }).click();
    await waitFor(async () => (await readdir(join(bob.inbox, `folder-${tag}`, 'inner')).catch((): string[] => [])).includes('b.txt'), 20_000, 'the folder');
    assert.equal(await readFile(join(bob.inbox, `folder-${tag}`, 'a.txt'), 'utf8'), 'a');
    const picked = `picked-${tag}.txt`;
    await writeFile(join(alice.dir, picked), 'from the path picker');
    await pageA.getByRole('button', { name: 'Files on this machine…' }).click();
    await pageA.locator('.picker').waitFor();
    await pageA.getByLabel('Go to folder').fill(alice.dir);
    await pageA.getByLabel('Go to folder').press('Enter');
    await pageA.locator('.picker .path', { hasText: alice.dir }).waitFor();
    await pageA.locator('.picker li', { hasText: picked }).getByRole('checkbox').check();
    await screenshot(pageA, 'send');
    await pageA.getByRole('button', { name: 'Send 1 selected' }).click();
    await waitFor(async () => (await readdir(bob.inbox)).includes(picked), 20_000, 'the picked file');
  });

  it('changes a setting: written to the config file and applied', async () => {
    await screen(pageB, 'Settings');
    await pageB.getByLabel('Trusted peers only').check();
    await pageB.getByLabel('Most files in one offer').fill('1234');
    await pageB.getByRole('button', { name: 'Save' }).click();
    await pageB
      .getByRole('status')
      .getByText(/Saved to/)
      .waitFor();
    const written = JSON.parse(await readFile(bob.configPath, 'utf8')) as { accept: string; limits: { maxOfferFiles: number } };
    assert.equal(written.accept, 'trusted');
    assert.equal(written.limits.maxOfferFiles, 1234);
    await pageB.getByLabel('Seconds an offer waits for an answer').fill('1');
    await pageB.getByRole('button', { name: 'Save' }).click();
    await pageB
      .getByRole('alert')
      .getByText(/askTimeoutSeconds must be an integer from 5/)
      .waitFor();
    assert.equal(JSON.parse(await readFile(bob.configPath, 'utf8')).askTimeoutSeconds, 60, 'a refused value is not written');
    await screenshot(pageB, 'settings');
  });

  it('fits a phone-sized window', async () => {
    const { page } = await openDashboard(browser, alice, { width: 390, height: 844 });
    await page
      .locator(`[data-peer="${B}"]`)
      .waitFor({ timeout: 30_000 })
      .catch(async (err: Error) => {
        const body = await page.evaluate(() => document.body.innerText as string);
        const peers = await alice.cli(['peers', '--json']);
        throw new Error(`${err.message}\npage:\n${body}\ndaemon:\n${peers.stdout}\n${alice.log.split('\n').slice(-30).join('\n')}`);
      });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `nothing sticks out sideways (${overflow} px)`);
    await screenshot(page, 'phone');
    await page.context().close();
  });
});
