/**
 * The Unix-socket transport and the CLI's client over a real socket in a temp dir, with a
 * dispatcher of fake handlers: the newline-JSON protocol, hang-ups, and the caps on what one
 * client may hold (connections, unfinished lines, requests in flight, unread responses).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type P2pdError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { ControlClient, Dispatcher, METHOD_NAMES, UnixSocketTransport, type MethodHandlers, type UnixTransportLimits } from '../../src/control/index.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'p2pd-ctl-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
interface Harness {
  transport: UnixSocketTransport;
  client: ControlClient;
  calls: { count: number };
  hangups: string[];
  path: string;
  close(): Promise<void>;
}

async function harness(
  limits: Partial<UnixTransportLimits> = {},
  tweak: (h: MethodHandlers, calls: { count: number }, hangups: string[]) => void = () => undefined,
): Promise<Harness> {
  const path = join(root, `d${n++}`, 'c.sock');
  const calls = { count: 0 };
  const hangups: string[] = [];
  const handlers = Object.fromEntries(
    METHOD_NAMES.map((m) => [
      m,
      async () => {
        calls.count++;
        return { method: m };
      },
    ]),
  ) as unknown as MethodHandlers;
  handlers.send = async (params, ctx) => {
    ctx.emit('progress', { id: 'p1', state: 'sending' } as never);
    ctx.emit('progress', { id: 'p1', state: 'verifying' } as never);
    return { transfer: { id: 'p1', peer: params.peer } as never, skipped: [] };
  };
  tweak(handlers, calls, hangups);
  const dispatcher = new Dispatcher({ logger: silentLogger(), handlers });
  const transport = new UnixSocketTransport({ logger: silentLogger(), dispatcher }, { path, limits });
  await transport.start();
  const client = new ControlClient({ socketPath: path, uid: process.getuid?.() ?? -1 });
  return { transport, client, calls, hangups, path, close: () => transport.stop() };
}

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function closed(s: Socket, timeoutMs = 3000): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Lines a raw connection receives, parsed. */
function lines(s: Socket): Array<Record<string, unknown>> {
  const got: Array<Record<string, unknown>> = [];
  let buf = '';
  s.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      got.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      buf = buf.slice(nl + 1);
    }
  });
  return got;
}

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('control socket: protocol', () => {
  it('answers a typed request and streams its events first', async () => {
    const h = await harness();
    try {
      const events: Array<[string, unknown]> = [];
      const r = await h.client.request('send', { peer: 'bob', paths: ['/x'] }, { onEvent: (e, d) => events.push([e, d]) });
      assert.deepEqual(r, { transfer: { id: 'p1', peer: 'bob' }, skipped: [] });
      assert.deepEqual(
        events.map(([e, d]) => [e, (d as { state: string }).state]),
        [
          ['progress', 'sending'],
          ['progress', 'verifying'],
        ],
      );
      // The untyped form still works for callers that name the result themselves.
      assert.deepEqual(await h.client.request<{ method: string }>('status'), { method: 'status' });
    } finally {
      await h.close();
    }
  });

  it('passes errors on as P2pdErrors with their code and the field', async () => {
    const h = await harness();
    try {
      await assert.rejects(h.client.request('cancel', {} as never), (e: P2pdError) => e.code === 'CONTROL_BAD_REQUEST' && e.details?.field === 'id');
      await assert.rejects(h.client.request<unknown>('nope'), (e: P2pdError) => e.code === 'CONTROL_BAD_REQUEST');
    } finally {
      await h.close();
    }
  });

  it('answers pipelined requests by id, and a bad line under id 0', async () => {
    const h = await harness();
    try {
      const s = await connect(h.path);
      const got = lines(s);
      s.write(
        '{"id":1,"method":"id"}\nnot json\n{"id":2,"method":"cancel","params":{"id":5}}\n\n{"id":4,"method":"peers","params":[]}\n{"id":3,"method":"status"}\n',
      );
      await waitFor(() => got.length >= 5);
      const byId = new Map(got.map((m) => [m.id, m]));
      assert.deepEqual(byId.get(1), { id: 1, result: { method: 'id' } });
      // Lines that are not a request with an id (not JSON, params not an object) are answered under 0.
      assert.deepEqual(
        got.filter((m) => m.id === 0).map((m) => (m.error as { code: string }).code),
        ['CONTROL_BAD_REQUEST', 'CONTROL_BAD_REQUEST'],
      );
      assert.equal((byId.get(2)!.error as { code: string }).code, 'CONTROL_BAD_REQUEST');
      assert.deepEqual(byId.get(3), { id: 3, result: { method: 'status' } });
      s.destroy();
    } finally {
      await h.close();
    }
  });

  it('aborts a call when its client hangs up', async () => {
    const h = await harness({}, (handlers, _calls, hangups) => {
      handlers.pair = (params, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            hangups.push(params.peer);
            reject(ctx.signal.reason as Error);
          });
        });
    });
    try {
      const ac = new AbortController();
      const p = h.client.request('pair', { peer: 'carol' }, { signal: ac.signal });
      await waitFor(() => h.transport.load.connections === 1);
      ac.abort();
      await assert.rejects(p);
      await waitFor(() => h.hangups.length === 1);
      assert.deepEqual(h.hangups, ['carol']);
    } finally {
      await h.close();
    }
  });
});

describe('control socket: caps', () => {
  it('drops a connection whose line is too long', async () => {
    const h = await harness({ maxLineBytes: 1024 });
    try {
      const s = await connect(h.path);
      s.on('error', () => undefined);
      s.write(Buffer.alloc(2000, 0x61));
      assert.equal(await closed(s), true);
      await waitFor(() => h.transport.load.bufferedBytes === 0);
    } finally {
      await h.close();
    }
  });

  it('bounds unfinished lines over all connections', async () => {
    const h = await harness({ maxLineBytes: 3000, maxBufferedBytes: 4096 });
    try {
      const a = await connect(h.path);
      const b = await connect(h.path);
      b.on('error', () => undefined);
      a.write(Buffer.alloc(2500, 0x61));
      await waitFor(() => h.transport.load.bufferedBytes === 2500);
      b.write(Buffer.alloc(2500, 0x62));
      assert.equal(await closed(b), true, 'the connection that went over the total is dropped');
      assert.equal(h.transport.load.bufferedBytes, 2500);
      // The first one may finish its line and is served.
      const got = lines(a);
      a.write('x\n{"id":5,"method":"id"}\n');
      await waitFor(() => got.some((m) => m.id === 5));
      assert.equal(h.transport.load.bufferedBytes, 0);
      a.destroy();
    } finally {
      await h.close();
    }
  });

  it('makes room for a new client by dropping the oldest idle connection, never a busy one', async () => {
    const h = await harness({ maxConnections: 3 }, (handlers) => {
      handlers.watch = (_params, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null)));
    });
    try {
      const idle = await connect(h.path);
      idle.write('{"id":1,"method":"i'); // unfinished and stuck
      const watching = await connect(h.path);
      watching.write('{"id":1,"method":"watch"}\n');
      const watching2 = await connect(h.path);
      watching2.write('{"id":1,"method":"watch"}\n');
      await waitFor(() => h.transport.load.connections === 3);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await h.client.request('id'), { method: 'id' });
      assert.equal(await closed(idle), true);
      assert.equal(watching.destroyed || watching2.destroyed, false);
      // Now every slot is busy (two watchers and ...) a third watcher; a further client is refused.
      const watching3 = await connect(h.path);
      watching3.write('{"id":1,"method":"watch"}\n');
      await waitFor(() => h.transport.load.connections === 3);
      await new Promise((r) => setTimeout(r, 50));
      await assert.rejects(h.client.request('id'), (e: P2pdError) => e.code === 'DAEMON_NOT_RUNNING');
      for (const s of [watching, watching2, watching3]) s.destroy();
    } finally {
      await h.close();
    }
  });

  it('stops reading from a client that does not read its answers', async () => {
    const h = await harness();
    try {
      const s = await connect(h.path);
      s.pause(); // never reads
      const batch = Buffer.from('{"id":1,"method":"status"}\n'.repeat(2000));
      // Write until the socket pushes back, and more: the daemon must stop reading long before.
      let sent = 0;
      for (let i = 0; i < 20; i++) {
        s.write(batch);
        sent += 2000;
      }
      let handled = -1;
      while (handled !== h.calls.count) {
        handled = h.calls.count;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(handled < sent / 2, `handled ${handled} of ${sent} requests for a client that reads nothing`);
      // Another client is still served.
      assert.deepEqual(await h.client.request('id'), { method: 'id' });
      // Reading again lets the stuck one go on.
      const got = lines(s);
      s.resume();
      await waitFor(() => got.length === sent, 10_000);
      s.destroy();
    } finally {
      await h.close();
    }
  });

  it('drops a client whose streamed events pile up unread', async () => {
    let aborted = false;
    const h = await harness({ maxQueuedBytes: 64 * 1024 }, (handlers) => {
      handlers.watch = (_params, ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve(null);
          });
          const big = { seq: 0, at: '', id: 'x'.repeat(1024) };
          const timer = setInterval(() => {
            for (let i = 0; i < 100; i++) ctx.emit('peer-gone', big as never);
            if (ctx.signal.aborted) clearInterval(timer);
          }, 1);
        });
    });
    try {
      const s = await connect(h.path);
      s.pause();
      s.write('{"id":1,"method":"watch"}\n');
      await waitFor(() => aborted, 5000);
      s.on('error', () => undefined);
      s.resume();
      assert.equal(await closed(s), true);
    } finally {
      await h.close();
    }
  });
});
