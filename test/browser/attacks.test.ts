/**
 * Each attack on the dashboard, refused: DNS rebinding (a foreign Host, in the browser and by
 * hand), a page on another site or another local port (CSRF with and without CORS tricks), no
 * token or a wrong one, a reused login token, a login token asked for over HTTP, and uploads
 * without a session. One daemon, one browser.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { TestDaemon } from '../helpers/daemons.js';
import { launch, openDashboard, raw, uiToken } from './browser.js';

declare const window: any, sessionStorage: any;

const tag = randomBytes(2).toString('hex');
const JSON_HEADERS = { 'Content-Type': 'application/json' };

describe('attacks on the dashboard', { timeout: 90_000 }, () => {
  let browser: Browser;
  let daemon: TestDaemon;
  let origin: string;
  let port: number;
  let session: string;
  let evil: Server;
  let evilOrigin: string;

  before(async () => {
    daemon = await TestDaemon.create({ name: `target-${tag}` });
    evil = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>evil</title><p>another local server</p>');
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
    evilOrigin = `http://127.0.0.1:${(evil.address() as { port: number }).port}`;
    // evil.test resolves to 127.0.0.1 in this browser: a DNS-rebinding attacker's name.
    [browser] = await Promise.all([launch(['--host-resolver-rules=MAP evil.test 127.0.0.1']), daemon.start(60_000)]);
    const t = await uiToken(daemon);
    origin = t.origin;
    port = Number(new URL(origin).port);
    const login = await raw(origin, '/api/ui-login', { headers: { ...JSON_HEADERS, Host: `127.0.0.1:${port}` }, body: JSON.stringify({ token: t.token }) });
    assert.equal(login.status, 200, login.body);
    session = (JSON.parse(login.body) as { result: { session: string } }).result.session;
  });
  after(async () => {
    await browser?.close();
    evil?.close();
    await daemon?.destroy();
  });

  const api = (path: string, headers: Record<string, string>, body = '{}'): ReturnType<typeof raw> =>
    raw(origin, path, { headers: { Host: `127.0.0.1:${port}`, ...JSON_HEADERS, ...headers }, body });

  it('answers with the security headers and never a CORS header', async () => {
    const page = await raw(origin, '/', { method: 'GET', headers: { Host: `localhost:${port}` } });
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'.*frame-ancestors 'none'/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    const preflight = await raw(origin, '/api/peers', {
      method: 'OPTIONS',
      headers: { Host: `127.0.0.1:${port}`, Origin: evilOrigin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization' },
    });
    assert.notEqual(preflight.status, 204);
    for (const r of [page, preflight]) {
      assert.ok(!Object.keys(r.headers).some((h) => h.startsWith('access-control-')), 'no CORS header');
      assert.equal(r.headers['set-cookie'], undefined, 'no cookie');
    }
  });

  it('refuses a foreign Host (DNS rebinding), even with a valid session', async () => {
    for (const host of [`evil.test:${port}`, `127.0.0.1:${port + 1}`, 'localhost', `127.0.0.1.nip.io:${port}`]) {
      const r = await api('/api/peers', { Host: host, Authorization: `Bearer ${session}` });
      assert.equal(r.status, 403, host);
      assert.equal(JSON.parse(r.body).error.code, 'CONTROL_UNAUTHORIZED');
      const page = await raw(origin, '/', { method: 'GET', headers: { Host: host } });
      assert.equal(page.status, 403, `the page itself for ${host}`);
    }
    // And in a browser that resolves the attacker's name to this machine.
    const context = await browser.newContext();
    const p = await context.newPage();
    const res = await p.goto(`http://evil.test:${port}/`);
    assert.equal(res?.status(), 403);
    await context.close();
  });

  it('refuses a foreign Origin or a cross-site fetch (CSRF), even with a valid session', async () => {
    const good = await api('/api/peers', { Authorization: `Bearer ${session}` });
    assert.equal(good.status, 200, good.body);
    const foreign: Array<Record<string, string>> = [
      { Origin: evilOrigin },
      { Origin: 'null' },
      { 'Sec-Fetch-Site': 'same-site' },
      { 'Sec-Fetch-Site': 'cross-site' },
    ];
    for (const headers of foreign) {
      const r = await api('/api/peers', { ...headers, Authorization: `Bearer ${session}` });
      assert.equal(r.status, 403, JSON.stringify(headers));
    }
    // A simple (no-preflight) form-like POST is refused for its content type before any method runs.
    const simple = await raw(origin, '/api/trust', { headers: { Host: `127.0.0.1:${port}`, 'Content-Type': 'text/plain' }, body: '{"peer":"x"}' });
    assert.ok(simple.status === 400 || simple.status === 401, simple.body);
  });

  it('refuses calls without a token, with a wrong one, and a reused login token', async () => {
    assert.equal((await api('/api/peers', {})).status, 401);
    assert.equal((await api('/api/peers', { Authorization: `Bearer ${'x'.repeat(43)}` })).status, 401);
    assert.equal((await api('/api/peers', { Authorization: `Basic ${session}` })).status, 401);
    const t = await uiToken(daemon);
    assert.equal((await api('/api/ui-login', {}, JSON.stringify({ token: t.token }))).status, 200);
    const again = await api('/api/ui-login', {}, JSON.stringify({ token: t.token }));
    assert.equal(again.status, 401, 'a login token works once');
    assert.equal(JSON.parse(again.body).error.code, 'CONTROL_UNAUTHORIZED');
    const mint = await api('/api/ui-token', { Authorization: `Bearer ${session}` });
    assert.equal(mint.status, 401, 'login tokens come from the control socket only');
  });

  it('refuses uploads without a session, and stages nothing', async () => {
    const r = await raw(origin, '/upload', { headers: { Host: `127.0.0.1:${port}` } });
    assert.equal(r.status, 401);
    const put = await raw(origin, '/upload/abc/x.txt', { method: 'PUT', headers: { Host: `127.0.0.1:${port}`, 'Content-Length': '5' }, body: 'hello' });
    assert.equal(put.status, 401);
    assert.deepEqual(await readdir(join(daemon.dir, 'state', 'dashboard-uploads')), []);
  });

  it('a page on another local port can neither read the session nor call the API', async () => {
    const { page } = await openDashboard(browser, daemon);
    const other = await page.context().newPage();
    await other.goto(evilOrigin);
    assert.equal(await other.evaluate(() => sessionStorage.getItem('p2pd-session')), null, 'sessionStorage is per origin, port included');
    const outcome = await other.evaluate(async (target: string) => {
      const results: string[] = [];
      try {
        const r = await fetch(`${target}/api/peers`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: 'Bearer guess' },
          body: '{}',
        });
        results.push(`read ${r.status}`);
      } catch {
        results.push('blocked');
      }
      try {
        await fetch(`${target}/api/trust`, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: '{"peer":"x"}' });
        results.push('sent');
      } catch {
        results.push('blocked');
      }
      return results;
    }, origin);
    assert.equal(outcome[0], 'blocked', 'a call with a token needs a preflight that is never granted');
    // The no-cors request leaves the browser, but the server refuses it (Sec-Fetch-Site, Origin).
    const { peers } = await daemon.json<{ peers: Array<{ trusted: boolean }> }>(['peers']);
    assert.ok(
      peers.every((p) => !p.trusted),
      'nothing was trusted',
    );
    assert.equal(await other.evaluate(() => window.location.origin), evilOrigin);
    await page.context().close();
  });
});
