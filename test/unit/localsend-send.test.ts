/**
 * Sending to LocalSend devices with the driver alone: a PIN (missing, wrong, too many tries, right)
 * against p2pd's own LocalSend receiver over HTTPS on 127.0.0.1, a plain-HTTP device refused
 * without the opt-in and reached with it, progress that counts earlier attempts, and the receiver
 * bound only to the addresses it is given. Real sockets on port 0; nothing leaves loopback.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.js';
import type { OutgoingAttempt } from '../../src/transfer/drivers.js';
import type { TransferProgress } from '../../src/transfer/progress.js';
import { loadLocalSendIdentity, type LocalSendIdentity } from '../../src/localsend/identity.js';
import { LocalSendServer, PIN_TRIES } from '../../src/localsend/server.js';
import { parseDeviceInfo } from '../../src/localsend/messages.js';
import { LocalSendDevices } from '../../src/localsend/devices.js';
import { LocalSendDriver, type LocalSendSendOptions } from '../../src/localsend/driver.js';
import type { P2pdError } from '../../src/errors.js';
import { startLocalSendReceiver } from '../helpers/localsend-receiver.js';

let dir: string;
let clientId: LocalSendIdentity;
let serverId: LocalSendIdentity;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2pd-ls-send-'));
  clientId = await loadLocalSendIdentity({ stateDir: join(dir, 'client') });
  serverId = await loadLocalSendIdentity({ stateDir: join(dir, 'server') });
});
after(async () => rm(dir, { recursive: true, force: true }));

/** p2pd's LocalSend receiver on 127.0.0.1, accepting verified senders at once. */
async function receiver(t: { after: (fn: () => Promise<void>) => void }, options: { pin?: string } = {}) {
  const { server, history, inboxDir } = await startLocalSendReceiver(t, dir, serverId, options);
  return { server, history, inboxDir };
}

function driverFor(devices: LocalSendDevices, allowHttp = false): LocalSendDriver {
  return new LocalSendDriver({
    devices,
    identity: () => clientId,
    info: () => ({ alias: 'me', version: '2.1', deviceType: 'headless', fingerprint: clientId.fingerprint }),
    allowHttp: () => allowHttp,
  });
}

function source(files: Array<{ path: string; data: Buffer }>) {
  return {
    entries: files.map((f) => ({ path: f.path, kind: 'file' as const, size: f.data.length, mode: 0o644, mtimeMs: Date.now() })),
    async *read(index: number) {
      yield files[index]!.data;
    },
  };
}

function attempt(peerId: string, src: ReturnType<typeof source>, over: Partial<OutgoingAttempt> = {}): OutgoingAttempt & { progress: TransferProgress[] } {
  const progress: TransferProgress[] = [];
  return {
    transferId: 'tx-1',
    query: peerId,
    peer: { protocol: 'localsend', id: peerId, name: 'box' },
    source: src,
    signal: AbortSignal.timeout(10_000),
    baseProgress: { files: 0, bytes: 0 },
    onConnected: () => undefined,
    onProgress: (p) => progress.push(p),
    onResume: () => undefined,
    onFileResult: () => undefined,
    ...over,
    progress,
  };
}

describe('sending to a LocalSend device', () => {
  test('PIN: none given is PIN_REQUIRED, a wrong one PIN_WRONG, then PIN_TRIES_EXCEEDED; the right one sends', async (t) => {
    const { server, history, inboxDir } = await receiver(t, { pin: '4711' });
    const devices = new LocalSendDevices();
    devices.seen(
      parseDeviceInfo({ alias: 'box', fingerprint: serverId.fingerprint, port: server.port, protocol: 'https' }),
      { address: '127.0.0.1', port: server.port },
      serverId.fingerprint,
    );
    const driver = driverFor(devices);
    const src = source([{ path: 'pin.txt', data: Buffer.from('with a pin') }]);
    const run = async (id: string, options: LocalSendSendOptions | undefined): Promise<unknown> => {
      const forget = options === undefined ? () => undefined : driver.withOptions(id, options);
      try {
        return await driver.send(attempt(serverId.fingerprint, src, { transferId: id }));
      } finally {
        forget();
      }
    };
    await assert.rejects(run('a', undefined), (e: P2pdError) => e.code === 'PIN_REQUIRED');
    await assert.rejects(run('b', { pin: '0000' }), (e: P2pdError) => e.code === 'PIN_WRONG');
    const r = (await run('c', { pin: '4711' })) as { ok: boolean };
    assert.equal(r.ok, true);
    await waitFor(() => history.records.length === 1);
    assert.equal(await readFile(join(inboxDir, 'pin.txt'), 'utf8'), 'with a pin');
    for (let i = 0; i < PIN_TRIES; i++) await assert.rejects(run(`w${i}`, { pin: '1234' }), (e: P2pdError) => e.code === 'PIN_WRONG');
    await assert.rejects(run('locked', { pin: '4711' }), (e: P2pdError) => e.code === 'PIN_TRIES_EXCEEDED');
  });

  test('a plain-HTTP device: PLAIN_HTTP_REFUSED without the opt-in; with it, told first, then sent; never under a trusted fingerprint', async (t) => {
    const got: Array<{ path: string; body: Buffer; pin: string | null }> = [];
    const http = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        got.push({ path: url.pathname, body: Buffer.concat(chunks), pin: url.searchParams.get('pin') });
        const reply = url.pathname.endsWith('prepare-upload') ? { sessionId: 's1', files: { '0': 'tok' } } : {};
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => http.close(() => resolve())));
    const port = (http.address() as { port: number }).port;
    const devices = new LocalSendDevices();
    const fingerprint = 'ab'.repeat(32);
    devices.seen(parseDeviceInfo({ alias: 'js-cli', fingerprint, port, protocol: 'http' }), { address: '127.0.0.1', port }, null);
    const src = source([{ path: 'clear.txt', data: Buffer.from('in clear') }]);

    await assert.rejects(driverFor(devices).send(attempt(fingerprint.toUpperCase(), src)), (e: P2pdError) => e.code === 'PLAIN_HTTP_REFUSED');
    assert.equal(got.length, 0, 'nothing was sent before the refusal');

    const driver = driverFor(devices);
    const told: string[] = [];
    const forget = driver.withOptions('tx-1', { allowHttp: true, pin: '99', onPlainHttp: (d) => told.push(`${d.alias}@${d.address}:${got.length}`) });
    const r = await driver.send(attempt(fingerprint.toUpperCase(), src));
    forget();
    assert.equal(r.ok, true);
    assert.deepEqual(told, ['js-cli@127.0.0.1:0'], 'told once, before the first request');
    assert.deepEqual(
      got.map((g) => [g.path, g.pin]),
      [
        ['/api/localsend/v2/prepare-upload', '99'],
        ['/api/localsend/v2/upload', null],
      ],
    );
    assert.equal(got[1]!.body.toString(), 'in clear');

    // The config key is the other opt-in.
    const r2 = await driverFor(devices, true).send(attempt(fingerprint.toUpperCase(), src, { transferId: 'tx-2' }));
    assert.equal(r2.ok, true);

    // A plain-HTTP device claiming a trusted fingerprint cannot prove it: refused, opt-in or not.
    const sent = got.length;
    const guarded = new LocalSendDriver({
      devices,
      identity: () => clientId,
      info: () => ({ alias: 'me', fingerprint: clientId.fingerprint }),
      allowHttp: () => true,
      isTrusted: (fp) => fp === fingerprint.toUpperCase(),
    });
    await assert.rejects(guarded.send(attempt(fingerprint.toUpperCase(), src, { transferId: 'tx-3' })), (e: P2pdError) => e.code === 'PEER_IDENTITY_MISMATCH');
    assert.equal(got.length, sent);
  });

  test('progress of a retry counts what earlier attempts delivered', async (t) => {
    const { server } = await receiver(t);
    const devices = new LocalSendDevices();
    devices.seen(
      parseDeviceInfo({ alias: 'box', fingerprint: serverId.fingerprint, port: server.port, protocol: 'https' }),
      { address: '127.0.0.1', port: server.port },
      serverId.fingerprint,
    );
    const data = Buffer.alloc(50_000, 1);
    const a = attempt(serverId.fingerprint, source([{ path: 'rest.bin', data }]), { baseProgress: { files: 2, bytes: 1000 } });
    const r = await driverFor(devices).send(a);
    assert.equal(r.ok, true);
    const first = a.progress[0]!;
    const last = a.progress.at(-1)!;
    assert.deepEqual([first.filesTotal, first.filesDone, first.bytesTotal, first.bytesDone], [3, 2, 51_000, 1000]);
    assert.deepEqual([last.filesTotal, last.filesDone, last.bytesTotal, last.bytesDone], [3, 3, 51_000, 51_000]);
    assert.ok(a.progress.every((p) => p.bytesDone >= 1000 && p.bytesDone <= p.bytesTotal));
  });

  test('the receiver binds only the addresses it is given, and nothing when given none', async (t) => {
    const make = (hosts: string[]) =>
      new LocalSendServer(
        { logger: silentLogger(), inbox: {} as never, identity: serverId, receive: () => Promise.resolve() },
        { hosts, port: 0, alias: 'box', deviceModel: 'p2pd', pin: '', idleTimeoutMs: 5000 },
      );
    const one = make(['127.0.0.1']);
    await one.start({ signal: new AbortController().signal });
    t.after(() => one.stop());
    assert.ok(one.port > 0);
    assert.equal(await connects('127.0.0.1', one.port), true);
    // Another loopback address of the same machine: not bound.
    assert.equal(await connects('127.0.0.2', one.port), false);
    const none = make([]);
    await none.start({ signal: new AbortController().signal });
    assert.equal(none.port, 0);
    await none.stop();
  });
});

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 2000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
