/**
 * LocalSend v2's receiving API at the protocol level: real HTTPS on 127.0.0.1 (port 0), with and
 * without a client certificate, through the real gate, manager and inbox.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLocalSendIdentity, type LocalSendIdentity } from '../../src/localsend/identity.js';
import { MAX_PREPARE_JSON, PIN_TRIES } from '../../src/localsend/server.js';
import { confineFileName, parseDeviceInfo } from '../../src/localsend/messages.js';
import { LocalSendDevices } from '../../src/localsend/devices.js';
import { LocalSendDriver } from '../../src/localsend/driver.js';
import type { P2pdError } from '../../src/errors.js';
import { startLocalSendReceiver } from '../helpers/localsend-receiver.js';

interface Reply {
  status: number;

  json: any;
  serverFingerprint: string;
}

const root = new URL('../../../', import.meta.url).pathname;
let dir: string;
let clientId: LocalSendIdentity;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2pd-ls-'));
  clientId = await loadLocalSendIdentity({ stateDir: join(dir, 'client') });
});
after(async () => rm(dir, { recursive: true, force: true }));

async function setup(t: { after: (fn: () => Promise<void>) => void }, options: { pin?: string } = {}) {
  const identity = await loadLocalSendIdentity({ stateDir: join(dir, 'server') });
  const receiver = await startLocalSendReceiver(t, dir, identity, options);
  const { server } = receiver;
  const call = (method: string, path: string, body?: Buffer | object, opts: { cert?: boolean } = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          host: '127.0.0.1',
          port: server.port,
          method,
          path: `/api/localsend/v2/${path}`,
          rejectUnauthorized: false,
          agent: false,
          ...(opts.cert === true ? { cert: clientId.certPem, key: clientId.keyPem } : {}),
          headers: data === undefined ? {} : { 'content-length': data.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            const cert = (res.socket as TLSSocket).getPeerCertificate();
            const fp = cert?.raw === undefined ? '' : createHash('sha256').update(cert.raw).digest('hex').toUpperCase();
            resolve({ status: res.statusCode ?? 0, json: text === '' ? null : JSON.parse(text), serverFingerprint: fp });
          });
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  return { ...receiver, identity, call };
}

const info = { alias: 'Phone', version: '2.1', deviceModel: 'Pixel', deviceType: 'mobile', fingerprint: 'x', port: 53317, protocol: 'https', download: false };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('LocalSend receiver', () => {
  test('info over HTTPS announces the fingerprint of the certificate it serves', async (t) => {
    const { call, identity } = await setup(t);
    const r = await call('GET', 'info');
    assert.equal(r.status, 200);
    assert.equal(r.json.fingerprint, identity.fingerprint);
    assert.equal(r.serverFingerprint, identity.fingerprint);
    assert.equal(r.json.deviceType, 'headless');
  });

  test('a sender with a client certificate lands its files at once, verified, folders kept', async (t) => {
    const { call, history, received, inboxDir } = await setup(t);
    const a = Buffer.from('hello localsend');
    const b = Buffer.alloc(300_000, 7);
    const files = {
      f1: { id: 'f1', fileName: 'note.txt', size: a.length, fileType: 'text/plain', sha256: sha(a) },
      f2: { id: 'f2', fileName: 'pics/b.bin', size: b.length, fileType: 'application/octet-stream' },
    };
    const prep = await call('POST', 'prepare-upload', { info, files }, { cert: true });
    assert.equal(prep.status, 200);
    const { sessionId, files: tokens } = prep.json;
    assert.equal((await call('POST', `upload?sessionId=${sessionId}&fileId=f1&token=${tokens.f1}`, a, { cert: true })).status, 200);
    assert.equal((await call('POST', `upload?sessionId=${sessionId}&fileId=f1&token=${tokens.f1}`, a, { cert: true })).status, 409);
    assert.equal((await call('POST', `upload?sessionId=${sessionId}&fileId=f2&token=${tokens.f1}`, b, { cert: true })).status, 403);
    assert.equal((await call('POST', `upload?sessionId=${sessionId}&fileId=f2&token=${tokens.f2}`, b, { cert: true })).status, 200);
    await waitFor(() => history.records.length === 1);
    const rec = history.records[0]!;
    assert.equal(rec.state, 'done');
    assert.equal(rec.peer.id, clientId.fingerprint);
    assert.deepEqual(received.sort(), ['note.txt', 'pics/b.bin']);
    assert.deepEqual(await readFile(join(inboxDir, 'pics', 'b.bin')), b);
  });

  test('a sender without a client certificate waits for a person', async (t) => {
    const { call, gate, history } = await setup(t);
    const a = Buffer.from('x');
    const pending = call('POST', 'prepare-upload', { info, files: { f: { id: 'f', fileName: 'a.txt', size: 1, fileType: 't' } } });
    await waitFor(() => gate.incoming().length === 1);
    assert.match(gate.incoming()[0]!.peer.id, /^unverified@/);
    gate.answer(gate.incoming()[0]!.id, true);
    const prep = await pending;
    assert.equal(prep.status, 200);
    assert.equal((await call('POST', `upload?sessionId=${prep.json.sessionId}&fileId=f&token=${prep.json.files.f}`, a)).status, 200);
    await waitFor(() => history.records.length === 1);
    assert.equal(history.records[0]!.state, 'done');
  });

  test('a rejected offer is 403 and a second session from the same address is 409', async (t) => {
    const { call, gate } = await setup(t);
    const body = { info, files: { f: { id: 'f', fileName: 'a.txt', size: 1, fileType: 't' } } };
    const first = call('POST', 'prepare-upload', body);
    await waitFor(() => gate.incoming().length === 1);
    assert.equal((await call('POST', 'prepare-upload', body)).status, 409);
    gate.answer(gate.incoming()[0]!.id, false);
    assert.equal((await first).status, 403);
  });

  test('PIN: missing is 401, wrong tries are limited per address (429)', async (t) => {
    const { call } = await setup(t, { pin: '4711' });
    const body = { info, files: { f: { id: 'f', fileName: 'a.txt', size: 1, fileType: 't' } } };
    assert.equal((await call('POST', 'prepare-upload', body, { cert: true })).status, 401);
    for (let i = 0; i < PIN_TRIES; i++) assert.equal((await call('POST', 'prepare-upload?pin=0000', body, { cert: true })).status, 401);
    assert.equal((await call('POST', 'prepare-upload?pin=4711', body, { cert: true })).status, 429);
  });

  test('a SHA-256 mismatch is 422 and the file may be sent again', async (t) => {
    const { call, history } = await setup(t);
    const a = Buffer.from('right');
    const prep = await call(
      'POST',
      'prepare-upload',
      { info, files: { f: { id: 'f', fileName: 'a.txt', size: 5, fileType: 't', sha256: sha(a) } } },
      { cert: true },
    );
    const path = `upload?sessionId=${prep.json.sessionId}&fileId=f&token=${prep.json.files.f}`;
    assert.equal((await call('POST', path, Buffer.from('wrong'), { cert: true })).status, 422);
    assert.equal((await call('POST', path, a, { cert: true })).status, 200);
    await waitFor(() => history.records.length === 1);
    assert.equal(history.records[0]!.state, 'done');
  });

  test('oversized JSON is 413; hostile file names are 400 and nothing is written', async (t) => {
    const { call } = await setup(t);
    assert.equal((await call('POST', 'prepare-upload', Buffer.alloc(MAX_PREPARE_JSON + 1, 32), { cert: true })).status, 413);
    for (const fileName of ['../evil', '/etc/passwd', 'a\\..\\b', 'x/../../y', 'C:evil', 'a'.repeat(300), '', 'a//b']) {
      const r = await call('POST', 'prepare-upload', { info, files: { f: { id: 'f', fileName, size: 1, fileType: 't' } } }, { cert: true });
      assert.equal(r.status, 400, fileName);
    }
    assert.throws(() => confineFileName('..'));
    assert.equal(confineFileName('a/b.txt'), 'a/b.txt');
  });

  test('interop: the independent `localsend` CLI (npm) sends a file over HTTPS without a client certificate', async (t) => {
    const { server, gate, history, inboxDir } = await setup(t);
    const file = join(dir, 'interop.bin');
    const data = Buffer.alloc(200_000, 3);
    await writeFile(file, data);
    const cli = join(root, 'node_modules', 'localsend', 'dist', 'cli.js');
    const child = execFile(process.execPath, [cli, 'send', '127.0.0.1', file, '--port', String(server.port), '--protocol', 'https', '--alias', 'js-cli'], {
      timeout: 20_000,
      // Its fetch would refuse our self-signed certificate; LocalSend clients accept it and pin the fingerprint instead.
      env: { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: '0' },
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // No client certificate: unverified, so the offer waits for a person.
    await waitFor(() => gate.incoming().length === 1, 15_000);
    assert.match(gate.incoming()[0]!.peer.id, /^unverified@/);
    gate.answer(gate.incoming()[0]!.id, true);
    assert.equal(await exited, 0);
    await waitFor(() => history.records.length === 1);
    assert.equal(history.records[0]!.state, 'done');
    assert.deepEqual(await readFile(join(inboxDir, 'interop.bin')), data);
  });

  test('the LocalSend driver sends to a device: client certificate shown, fingerprint pinned, refusals named', async (t) => {
    const { server, identity, history, inboxDir } = await setup(t);
    const devices = new LocalSendDevices();
    const info = parseDeviceInfo({ alias: 'box', fingerprint: identity.fingerprint, port: server.port, protocol: 'https' });
    devices.seen(info, { address: '127.0.0.1', port: server.port }, identity.fingerprint);
    const driver = new LocalSendDriver({
      devices,
      identity: () => clientId,
      info: () => ({ alias: 'me', version: '2.1', deviceType: 'headless', fingerprint: clientId.fingerprint }),
    });
    const data = Buffer.alloc(100_000, 9);
    const source = {
      entries: [{ path: 'd/x.bin', kind: 'file' as const, size: data.length, mode: 0o644, mtimeMs: Date.now() }],
      async *read() {
        yield data;
      },
    };
    const attempt = (signal: AbortSignal) => ({
      transferId: 't1',
      query: identity.fingerprint,
      peer: { protocol: 'localsend', id: identity.fingerprint, name: 'box' },
      source,
      signal,
      baseProgress: { files: 0, bytes: 0 },
      onConnected: () => undefined,
      onProgress: () => undefined,
      onResume: () => undefined,
      onFileResult: () => undefined,
    });
    const result = await driver.send(attempt(AbortSignal.timeout(10_000)));
    assert.equal(result.ok, true);
    await waitFor(() => history.records.length === 1);
    assert.equal(history.records[0]!.peer.id, clientId.fingerprint);
    assert.deepEqual(await readFile(join(inboxDir, 'd', 'x.bin')), data);

    // A device announcing another fingerprint at that address is refused at connect.
    const impostor = new LocalSendDevices();
    impostor.seen({ ...info, fingerprint: 'EF'.repeat(32) }, { address: '127.0.0.1', port: server.port }, 'EF'.repeat(32));
    const pinned = new LocalSendDriver({ devices: impostor, identity: () => clientId, info: () => ({ alias: 'me', fingerprint: clientId.fingerprint }) });
    await assert.rejects(
      pinned.send({ ...attempt(AbortSignal.timeout(10_000)), peer: { protocol: 'localsend', id: 'EF'.repeat(32), name: 'x' } }),
      (e: P2pdError) => e.code === 'PEER_IDENTITY_MISMATCH',
    );
  });

  test('a session the sender cancels ends cancelled; its tokens no longer work', async (t) => {
    const { call, history } = await setup(t);
    const prep = await call('POST', 'prepare-upload', { info, files: { f: { id: 'f', fileName: 'a.txt', size: 1, fileType: 't' } } }, { cert: true });
    assert.equal((await call('POST', `cancel?sessionId=${prep.json.sessionId}`, {}, { cert: true })).status, 200);
    await waitFor(() => history.records.length === 1);
    assert.equal(history.records[0]!.state, 'cancelled');
    const up = await call('POST', `upload?sessionId=${prep.json.sessionId}&fileId=f&token=${prep.json.files.f}`, Buffer.from('x'), { cert: true });
    assert.equal(up.status, 403);
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
