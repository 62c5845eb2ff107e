/**
 * The dashboard's server parts without a browser: logins and sessions, the HTTP transport's
 * gates over a real socket on port 0 with a stub dispatcher, upload names, and settings written
 * back to a config file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UiSessions } from '../../src/control/ui-sessions.js';
import { HttpTransport } from '../../src/control/http-transport.js';
import { checkSegment } from '../../src/control/http-uploads.js';
import { Dispatcher, type MethodHandlers } from '../../src/control/dispatcher.js';
import { dashboardAuthenticate } from '../../src/daemon/dashboard.js';
import { writeSettings } from '../../src/daemon/settings-file.js';
import { loadConfig } from '../../src/config/load.js';
import { type P2pdError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';

describe('UiSessions', () => {
  it('a login token works once and only while fresh', () => {
    let now = 1000;
    const s = new UiSessions({ now: () => now, loginTtlMs: 60_000 });
    const { token } = s.issueLogin();
    const { session } = s.login(token);
    s.check(session);
    assert.throws(
      () => s.login(token),
      (e: P2pdError) => e.code === 'CONTROL_UNAUTHORIZED',
    );
    const late = s.issueLogin().token;
    now += 60_001;
    assert.throws(
      () => s.login(late),
      (e: P2pdError) => e.code === 'CONTROL_UNAUTHORIZED',
    );
  });

  it('refuses missing, wrong and idle sessions', () => {
    let now = 0;
    const s = new UiSessions({ now: () => now, sessionIdleMs: 1000 });
    const { session } = s.login(s.issueLogin().token);
    for (const bad of [undefined, '', 'nope', 42])
      assert.throws(
        () => s.check(bad),
        (e: P2pdError) => e.code === 'CONTROL_UNAUTHORIZED',
      );
    now = 999;
    s.check(session); // use keeps it alive
    now = 1998;
    s.check(session);
    now = 3000;
    assert.throws(
      () => s.check(session),
      (e: P2pdError) => e.code === 'CONTROL_UNAUTHORIZED',
    );
  });
});

describe('upload names', () => {
  it('takes plain names and refuses the rest', () => {
    assert.equal(checkSegment('report.pdf'), 'report.pdf');
    assert.equal(checkSegment('<img src=x onerror="1">.txt'), '<img src=x onerror="1">.txt');
    for (const bad of ['', '.', '..', 'a/b', 'a\u0000b', 'line\nbreak', 'x'.repeat(256)]) {
      assert.throws(
        () => checkSegment(bad),
        (e: P2pdError) => e.code === 'CONTROL_BAD_REQUEST',
        JSON.stringify(bad),
      );
    }
  });
});

describe('HttpTransport gates', () => {
  let dir: string;
  let transport: HttpTransport;
  let sessions: UiSessions;
  let port: number;
  const calls: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2pd-http-'));
    sessions = new UiSessions();
    const handlers = new Proxy({} as MethodHandlers, {
      get: (_t, method: string) => async (params: unknown) => {
        calls.push(method);
        if (method === 'ui-login') return sessions.login((params as { token: string }).token);
        return { ok: method };
      },
    });
    const logger = createLogger({ level: 'silent', pretty: false });
    const dispatcher = new Dispatcher({ logger, handlers, authenticate: dashboardAuthenticate(sessions) });
    transport = new HttpTransport({ logger, dispatcher }, { port: 0, portExplicit: true, assetsDir: join(dir, 'none'), stagingDir: join(dir, 'staging') });
    await transport.start();
    port = transport.port;
  });
  after(async () => {
    await transport.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const send = (
    path: string,
    headers: Record<string, string>,
    body = '{}',
    method = 'POST',
  ): Promise<{ status: number; body: string; headers: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path, method, headers: { Host: `127.0.0.1:${port}`, 'Content-Type': 'application/json', ...headers } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  it('needs a session for methods, and takes one from a one-time token', async () => {
    assert.equal((await send('/api/peers', {})).status, 401);
    const login = await send('/api/ui-login', {}, JSON.stringify({ token: sessions.issueLogin().token }));
    assert.equal(login.status, 200, login.body);
    const session = (JSON.parse(login.body) as { result: { session: string } }).result.session;
    const ok = await send('/api/peers', { Authorization: `Bearer ${session}` });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { result: { ok: 'peers' } });
    assert.equal((await send('/api/ui-token', { Authorization: `Bearer ${session}` })).status, 401);
    assert.equal((await send('/api/peers', { Authorization: `Bearer ${session}`, Host: `evil.example:${port}` })).status, 403);
    assert.equal((await send('/api/peers', { Authorization: `Bearer ${session}`, Origin: 'http://127.0.0.1:1' })).status, 403);
    assert.equal((await send('/api/peers', { Authorization: `Bearer ${session}`, 'Sec-Fetch-Site': 'cross-site' })).status, 403);
    assert.equal((await send('/api/peers', { Authorization: `Bearer ${session}`, 'Content-Type': 'text/plain' })).status, 400);
    assert.ok(!calls.includes('ui-token'), 'the refused method never ran');
  });

  it('bounds open connections: a local program holding many does not keep the page out for long', async () => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 80; i++) {
        const s = connect({ host: '127.0.0.1', port });
        s.on('error', () => undefined);
        held.push(s);
      }
      await Promise.all(held.map((s) => new Promise((resolve) => (s.connecting ? s.once('connect', resolve).once('close', resolve) : resolve(null)))));
      // Connections beyond the cap are closed by the server at once.
      const closed = await new Promise<number>((resolve) => setTimeout(() => resolve(held.filter((s) => s.destroyed || s.readableEnded).length), 300));
      assert.ok(closed >= 80 - 64, `${closed} of 80 idle connections closed`);
    } finally {
      for (const s of held) s.destroy();
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await send('/api/peers', {})).status, 401, 'the server still answers once they are gone');
  });

  it('sets the security headers and no CORS header', async () => {
    const r = await send('/', {}, '', 'GET');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
    assert.ok(!Object.keys(r.headers).some((h) => h.startsWith('access-control-')));
  });

  it('stages nothing for an upload without a session', async () => {
    assert.equal((await send('/upload', {}, '')).status, 401);
    assert.deepEqual(await readdir(join(dir, 'staging')), []);
  });
});

describe('settings written back', () => {
  const env = {};
  const load = (file: string) => loadConfig({ file, env, home: tmpdir(), hostname: 'h', cwd: tmpdir() });

  it('changes only the given keys, keeps comments, and refuses what the start would refuse', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2pd-settings-'));
    try {
      const file = join(dir, 'config.json');
      await writeFile(file, JSON.stringify({ '// note': 'mine', name: 'box', limits: { maxFileSize: 5 } }));
      const loaded = await writeSettings(file, { accept: 'all', limits: { maxOfferFiles: 7 } }, load);
      assert.equal(loaded.config.accept, 'all');
      const written = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      assert.deepEqual(written, { '// note': 'mine', name: 'box', accept: 'all', limits: { maxFileSize: 5, maxOfferFiles: 7 } });
      const before = await readFile(file, 'utf8');
      await assert.rejects(
        writeSettings(file, { askTimeoutSeconds: 1 }, load),
        (e: P2pdError) => e.code === 'CONFIG_INVALID' && e.message.includes(file) && !e.message.includes('.tmp'),
      );
      assert.equal(await readFile(file, 'utf8'), before, 'a refused change leaves the file as it was');
      assert.deepEqual(await readdir(dir), ['config.json'], 'no temporary file is left');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('p2pd accept options', () => {
  it("become the accept method's params", async () => {
    const { acceptParams } = await import('../../src/cli/commands/incoming.js');
    assert.deepEqual(acceptParams('T1', {}), { id: 'T1' });
    assert.deepEqual(acceptParams('T1', { to: 'photos', rename: ['2=notes.txt', '0=a=b.txt'], skip: ['3', '2'] }), {
      id: 'T1',
      to: 'photos',
      files: [
        { index: 0, rename: 'a=b.txt' },
        { index: 2, rename: 'notes.txt', skip: true },
        { index: 3, skip: true },
      ],
    });
    for (const bad of [{ rename: ['x=y'] }, { rename: ['2'] }, { rename: ['2='] }, { skip: ['-1'] }]) {
      assert.throws(
        () => acceptParams('T1', bad),
        (e: P2pdError) => e.code === 'USAGE',
        JSON.stringify(bad),
      );
    }
  });
});
