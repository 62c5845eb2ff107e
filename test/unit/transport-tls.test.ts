// Real sockets, but only on 127.0.0.1 and port 0: nothing leaves the machine.
import { test, before, after } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { P2pdError } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import { createTlsListener, dialTls, loadOrCreateIdentity } from '../../src/transport/index.js';
import type { Identity, TlsListenerOptions, TlsPeer } from '../../src/transport/index.js';

const HOST = '127.0.0.1';
const BOUND = { timeout: 10_000 };

let stateRoot: string;
let alice: Identity;
let bob: Identity;
let carol: Identity;

before(async () => {
  stateRoot = await mkdtemp(join(tmpdir(), 'p2pd-tls-'));
  [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((n) => loadOrCreateIdentity({ dir: join(stateRoot, n) })));
});

after(async () => {
  await rm(stateRoot, { recursive: true, force: true });
});

interface Served {
  port: number;
  connections: Array<{ socket: tls.TLSSocket; peer: TlsPeer }>;
  nextConnection(): Promise<{ socket: tls.TLSSocket; peer: TlsPeer }>;
  debugMessages: string[];
}

/** A listener on 127.0.0.1:0 that is stopped, with every socket it handed out, after the test. */
async function serve(t: TestContext, identity: Identity, options: Partial<TlsListenerOptions> = {}): Promise<Served> {
  const connections: Served['connections'] = [];
  const waiters: Array<(c: Served['connections'][number]) => void> = [];
  const debugMessages: string[] = [];
  const listener = createTlsListener(
    { identity, logger: { debug: (_o, m) => debugMessages.push(m ?? ''), warn: (_o, m) => debugMessages.push(m ?? '') } },
    {
      host: HOST,
      port: 0,
      handshakeTimeoutMs: 5_000,
      onConnection: (socket, peer) => {
        socket.on('error', () => {});
        const c = { socket, peer };
        connections.push(c);
        waiters.shift()?.(c);
      },
      ...options,
    },
  );
  const { port } = await listener.start();
  t.after(async () => {
    await listener.stop();
    for (const c of connections) c.socket.destroy();
  });
  return {
    port,
    connections,
    debugMessages,
    nextConnection: () => new Promise((resolve) => waiters.push(resolve)),
  };
}

/** A plain TCP server on 127.0.0.1:0; `onSocket` decides what to do with each client. */
async function tcpServer(t: TestContext, onSocket: (s: net.Socket) => void): Promise<{ port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.resume(); // read, so that a client's FIN is seen and the socket closes
    sockets.push(s);
    onSocket(s);
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port, sockets };
}

/** A port on 127.0.0.1 that nothing listens on: bound by us a moment ago, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function hasCode(code: ErrorCode, check?: (err: P2pdError) => void) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof P2pdError, `expected P2pdError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    check?.(err);
    return true;
  };
}

function signal(): AbortSignal {
  return new AbortController().signal;
}

test("mutual handshake: each side learns the other one's id", BOUND, async (t) => {
  const server = await serve(t, alice);
  const accepted = server.nextConnection();
  const dialed = await dialTls({ identity: bob }, { addresses: [{ host: HOST, port: server.port }], expectedId: alice.id, signal: signal(), timeoutMs: 5_000 });
  t.after(() => dialed.socket.destroy());
  const { socket, peer } = await accepted;

  assert.equal(dialed.peerId, alice.id);
  assert.deepEqual(dialed.address, { host: HOST, port: server.port });
  assert.equal(peer.id, bob.id);
  assert.equal(peer.address, HOST);
  assert.equal(peer.port, dialed.socket.localPort);
  assert.equal(dialed.socket.getProtocol(), 'TLSv1.3');
  assert.equal(socket.getProtocol(), 'TLSv1.3');
  assert.equal(dialed.socket.getCipher().standardName, 'TLS_AES_128_GCM_SHA256');

  // Bytes flow both ways.
  dialed.socket.write('ping');
  const [fromClient] = (await once(socket, 'data')) as [Buffer];
  assert.equal(fromClient.toString(), 'ping');
  socket.write('pong');
  const [fromServer] = (await once(dialed.socket, 'data')) as [Buffer];
  assert.equal(fromServer.toString(), 'pong');
});

test('an expectedId in its readable form is accepted', BOUND, async (t) => {
  const server = await serve(t, alice);
  const readable = alice.id
    .toLowerCase()
    .replace(/(.{4})/g, '$1-')
    .replace(/-$/, '');
  const dialed = await dialTls({ identity: bob }, { addresses: [{ host: HOST, port: server.port }], expectedId: readable, signal: signal(), timeoutMs: 5_000 });
  dialed.socket.destroy();
  assert.equal(dialed.peerId, alice.id);
});

test('stopping the listener leaves handed-out connections open', BOUND, async (t) => {
  const listener = createTlsListener({ identity: alice }, { host: HOST, port: 0, handshakeTimeoutMs: 5_000, onConnection: (s) => served.push(s) });
  const served: tls.TLSSocket[] = [];
  const { port } = await listener.start();
  t.after(async () => {
    await listener.stop();
    for (const s of served) s.destroy();
  });
  const dialed = await dialTls({ identity: bob }, { addresses: [{ host: HOST, port }], signal: signal(), timeoutMs: 5_000 });
  t.after(() => dialed.socket.destroy());
  while (served.length === 0) await new Promise((r) => setImmediate(r));
  await listener.stop();
  await listener.stop(); // idempotent
  served[0]!.write('still here');
  const [data] = (await once(dialed.socket, 'data')) as [Buffer];
  assert.equal(data.toString(), 'still here');
  // And no new connections are accepted.
  await assert.rejects(dialTls({ identity: bob }, { addresses: [{ host: HOST, port }], signal: signal(), timeoutMs: 5_000 }), hasCode('PEER_UNREACHABLE'));
});

test('expectedId mismatch is PEER_IDENTITY_MISMATCH and no other address is tried', BOUND, async (t) => {
  const impostor = await serve(t, carol);
  const genuine = await serve(t, alice);
  await assert.rejects(
    dialTls(
      { identity: bob },
      {
        addresses: [
          { host: HOST, port: impostor.port },
          { host: HOST, port: genuine.port },
        ],
        expectedId: alice.id,
        signal: signal(),
        timeoutMs: 5_000,
        staggerMs: 5_000,
      },
    ),
    hasCode('PEER_IDENTITY_MISMATCH', (err) => {
      assert.equal(err.details?.expected, alice.id);
      assert.equal(err.details?.actual, carol.id);
    }),
  );
  assert.equal(genuine.connections.length, 0);
});

test('a client without a certificate is refused', BOUND, async (t) => {
  const server = await serve(t, alice);
  const client = tls.connect({ host: HOST, port: server.port, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
  t.after(() => client.destroy());
  client.on('error', () => {});
  client.resume();
  await once(client, 'close');
  assert.equal(server.connections.length, 0);
  assert.ok(server.debugMessages.some((m) => m.includes('no certificate')));
});

test('an address nothing listens on is PEER_UNREACHABLE with its error', BOUND, async () => {
  const port = await closedPort();
  await assert.rejects(
    dialTls({ identity: bob }, { addresses: [{ host: HOST, port }], signal: signal(), timeoutMs: 5_000 }),
    hasCode('PEER_UNREACHABLE', (err) => {
      const attempts = err.details?.attempts as Array<{ host: string; port: number; code: string }>;
      assert.equal(attempts.length, 1);
      assert.deepEqual([attempts[0]!.host, attempts[0]!.port, attempts[0]!.code], [HOST, port, 'ECONNREFUSED']);
    }),
  );
});

test('no addresses at all is PEER_UNREACHABLE', BOUND, async () => {
  await assert.rejects(dialTls({ identity: bob }, { addresses: [], signal: signal(), timeoutMs: 5_000 }), hasCode('PEER_UNREACHABLE'));
});

test('the second address is used when the first is refused', BOUND, async (t) => {
  const server = await serve(t, alice);
  const refused = await closedPort();
  const dialed = await dialTls(
    { identity: bob },
    {
      addresses: [
        { host: HOST, port: refused },
        { host: HOST, port: server.port },
      ],
      expectedId: alice.id,
      signal: signal(),
      timeoutMs: 5_000,
      staggerMs: 5_000, // the refusal, not the stagger, moves on to the second address
    },
  );
  dialed.socket.destroy();
  assert.deepEqual(dialed.address, { host: HOST, port: server.port });
});

test('a silent address does not hold up the next one for longer than the stagger', BOUND, async (t) => {
  const silent = await tcpServer(t, () => {});
  const server = await serve(t, alice);
  const started = Date.now();
  const dialed = await dialTls(
    { identity: bob },
    {
      addresses: [
        { host: HOST, port: silent.port },
        { host: HOST, port: server.port },
      ],
      signal: signal(),
      timeoutMs: 5_000,
      staggerMs: 50,
    },
  );
  dialed.socket.destroy();
  assert.equal(dialed.address.port, server.port);
  assert.ok(Date.now() - started < 4_000);
  // The losing attempt was dropped.
  if (silent.sockets[0] !== undefined && !silent.sockets[0].destroyed) await once(silent.sockets[0], 'close');
});

test("abort before connecting throws the signal's reason", BOUND, async () => {
  const controller = new AbortController();
  const reason = new Error('shutting down');
  controller.abort(reason);
  await assert.rejects(
    dialTls({ identity: bob }, { addresses: [{ host: HOST, port: 9 }], signal: controller.signal, timeoutMs: 5_000 }),
    (err) => err === reason,
  );
  const plain = new AbortController();
  plain.abort();
  await assert.rejects(dialTls({ identity: bob }, { addresses: [{ host: HOST, port: 9 }], signal: plain.signal, timeoutMs: 5_000 }), { name: 'AbortError' });
});

test('abort during the handshake destroys the pending socket', BOUND, async (t) => {
  let accepted!: (s: net.Socket) => void;
  const gotSocket = new Promise<net.Socket>((resolve) => (accepted = resolve));
  const silent = await tcpServer(t, (s) => accepted(s));
  const controller = new AbortController();
  const dialing = dialTls({ identity: bob }, { addresses: [{ host: HOST, port: silent.port }], signal: controller.signal, timeoutMs: 5_000 });
  const serverSide = await gotSocket;
  controller.abort();
  await assert.rejects(dialing, { name: 'AbortError' });
  if (!serverSide.destroyed) await once(serverSide, 'close');
});

test('a server that never answers the handshake is TIMEOUT', BOUND, async (t) => {
  const silent = await tcpServer(t, () => {});
  await assert.rejects(dialTls({ identity: bob }, { addresses: [{ host: HOST, port: silent.port }], signal: signal(), timeoutMs: 200 }), hasCode('TIMEOUT'));
});

test('a server that does not speak TLS is TLS_FAILED', BOUND, async (t) => {
  const rude = await tcpServer(t, (s) => s.end('HTTP/1.0 400 Bad Request\r\n\r\n'));
  await assert.rejects(dialTls({ identity: bob }, { addresses: [{ host: HOST, port: rude.port }], signal: signal(), timeoutMs: 5_000 }), hasCode('TLS_FAILED'));
});

test('a client that never speaks is dropped after the handshake timeout', BOUND, async (t) => {
  const server = await serve(t, alice, { handshakeTimeoutMs: 200 });
  const started = Date.now();
  const raw = net.connect(server.port, HOST);
  t.after(() => raw.destroy());
  raw.on('error', () => {});
  raw.resume();
  await once(raw, 'close');
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 150, `dropped after ${elapsed} ms`);
  assert.equal(server.connections.length, 0);
});

test('stop drops clients still in their handshake', BOUND, async (t) => {
  let accepted!: () => void;
  const acceptedOnce = new Promise<void>((resolve) => (accepted = resolve));
  const logger = { debug: (_o: object, m?: string) => m === 'TCP connection accepted' && accepted(), warn: () => {} };
  const listener = createTlsListener({ identity: alice, logger }, { host: HOST, port: 0, handshakeTimeoutMs: 5_000, onConnection: (s) => s.destroy() });
  const { port } = await listener.start();
  t.after(() => listener.stop());
  const raw = net.connect(port, HOST);
  t.after(() => raw.destroy());
  raw.on('error', () => {});
  raw.resume();
  await acceptedOnce;
  const closed = once(raw, 'close');
  await listener.stop();
  await closed;
});

test('a busy port is PORT_IN_USE naming the port', BOUND, async (t) => {
  const first = await serve(t, alice);
  const second = createTlsListener({ identity: bob }, { host: HOST, port: first.port, handshakeTimeoutMs: 5_000, onConnection: (s) => s.destroy() });
  t.after(() => second.stop());
  await assert.rejects(
    second.start(),
    hasCode('PORT_IN_USE', (err) => {
      assert.equal(err.details?.port, first.port);
      assert.ok(err.message.includes(String(first.port)));
    }),
  );
});

test('start honours its signal: aborted before, and aborting later stops the listener', BOUND, async () => {
  const make = () => createTlsListener({ identity: alice }, { host: HOST, port: 0, handshakeTimeoutMs: 5_000, onConnection: (s) => s.destroy() });
  const early = new AbortController();
  early.abort();
  await assert.rejects(make().start({ signal: early.signal }), { name: 'AbortError' });

  const controller = new AbortController();
  const listener = make();
  const { port } = await listener.start({ signal: controller.signal });
  assert.ok(port > 0);
  controller.abort();
  await listener.stop(); // resolves once the abort-triggered stop is done
  await assert.rejects(dialTls({ identity: bob }, { addresses: [{ host: HOST, port }], signal: signal(), timeoutMs: 5_000 }), hasCode('PEER_UNREACHABLE'));
});
