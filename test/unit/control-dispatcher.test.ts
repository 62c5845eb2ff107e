/**
 * The control dispatcher without a transport: method lookup, the params schemas, the ready gate,
 * the authentication hook and error mapping, with small fake handlers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { P2pdError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { Dispatcher, METHOD_NAMES, METHOD_SCHEMAS, type Authenticate, type CallRequest, type MethodHandlers } from '../../src/control/index.js';

interface Seen {
  method: string;
  params: unknown;
}

function fakeHandlers(seen: Seen[]): MethodHandlers {
  const record =
    (method: string, result: unknown) =>
    async (params: unknown): Promise<never> => {
      seen.push({ method, params });
      return result as never;
    };
  return Object.fromEntries(METHOD_NAMES.map((m) => [m, record(m, { ok: m })])) as unknown as MethodHandlers;
}

function req(method: string, params: unknown = {}, transport = 'unix', credentials?: unknown): CallRequest & { events: Array<[string, unknown]> } {
  const events: Array<[string, unknown]> = [];
  return {
    method,
    params,
    signal: new AbortController().signal,
    emit: (e, d) => events.push([e, d]),
    caller: { transport, ...(credentials === undefined ? {} : { credentials }) },
    events,
  };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof P2pdError, `not a P2pdError: ${String(err)}`);
    return err.code;
  }
  return 'resolved';
}

describe('control dispatcher', () => {
  it("every method's params schema compiles under strict ajv (the dispatcher compiles each on its first call)", () => {
    const ajv = new Ajv({ allErrors: false, strict: true });
    for (const m of METHOD_NAMES) assert.doesNotThrow(() => ajv.compile(METHOD_SCHEMAS[m]), m);
  });

  it('runs a known method with its params and returns its result', async () => {
    const seen: Seen[] = [];
    const d = new Dispatcher({ logger: silentLogger(), handlers: fakeHandlers(seen) });
    assert.deepEqual(await d.call(req('send', { peer: 'bob', paths: ['/a'], detach: true, extra: 1 })), { ok: 'send' });
    // Unknown params are ignored, not refused: newer clients keep working with older daemons.
    assert.deepEqual(seen, [{ method: 'send', params: { peer: 'bob', paths: ['/a'], detach: true, extra: 1 } }]);
  });

  it('refuses an unknown method, also an inherited property name', async () => {
    const d = new Dispatcher({ logger: silentLogger(), handlers: fakeHandlers([]) });
    for (const m of ['nope', 'toString', '__proto__', 'constructor']) {
      await assert.rejects(d.call(req(m)), (err: P2pdError) => err.code === 'CONTROL_BAD_REQUEST' && err.message.includes(m));
    }
  });

  it('refuses bad params before the handler runs, naming the field', async () => {
    const seen: Seen[] = [];
    const d = new Dispatcher({ logger: silentLogger(), handlers: fakeHandlers(seen) });
    const cases: Array<[string, unknown, string]> = [
      ['send', { peer: 'bob' }, 'paths'],
      ['send', { peer: 'bob', paths: [] }, 'paths'],
      ['send', { peer: 'bob', paths: ['relative'] }, 'paths'],
      ['send', { peer: 'bob', paths: ['/a', 3] }, 'paths'],
      ['send', { peer: '  ', paths: ['/a'] }, 'peer'],
      ['send', { peer: 'bob', paths: ['/a'], detach: 'yes' }, 'detach'],
      ['trust', {}, 'peer'],
      ['trust', { peer: 'bob', name: 5 }, 'name'],
      ['cancel', { id: 7 }, 'id'],
      ['reject', {}, 'id'],
      ['pair-answer', {}, 'ok'],
      ['pair-answer', { ok: 'true' }, 'ok'],
      ['watch', { since: -1 }, 'since'],
      ['watch', { since: 1.5 }, 'since'],
      ['id', 'not an object', 'params'],
      ['id', [1], 'params'],
    ];
    for (const [method, params, field] of cases) {
      await assert.rejects(
        d.call(req(method, params)),
        (err: P2pdError) => err.code === 'CONTROL_BAD_REQUEST' && err.details?.field === field && err.message.startsWith(`"${field}" must be`),
        `${method} ${JSON.stringify(params)}`,
      );
    }
    assert.deepEqual(seen, []);
  });

  it('keeps the messages of the hand-written checks it replaced', async () => {
    const d = new Dispatcher({ logger: silentLogger(), handlers: fakeHandlers([]) });
    await assert.rejects(d.call(req('reject')), { message: '"id" must be a non-empty string' });
    await assert.rejects(d.call(req('pair-answer')), { message: '"ok" must be true or false' });
    await assert.rejects(d.call(req('send', { peer: 'b', paths: 'x' })), { message: '"paths" must be a non-empty list of absolute paths' });
  });

  it('has a schema for every method, each describing every field', () => {
    for (const m of METHOD_NAMES) {
      for (const [field, node] of Object.entries(METHOD_SCHEMAS[m].properties)) {
        assert.ok(node.description.length > 0, `${m}.${field}`);
      }
    }
  });

  it('answers DAEMON_NOT_RUNNING until ready, but an unknown method is still a bad request', async () => {
    let ready = false;
    const seen: Seen[] = [];
    const d = new Dispatcher({ logger: silentLogger(), handlers: fakeHandlers(seen) }, { isReady: () => ready });
    assert.equal(await code(d.call(req('status'))), 'DAEMON_NOT_RUNNING');
    assert.equal(await code(d.call(req('nope'))), 'CONTROL_BAD_REQUEST');
    ready = true;
    assert.deepEqual(await d.call(req('status')), { ok: 'status' });
    assert.equal(seen.length, 1);
  });

  it('lets the authentication hook judge each call before anything else', async () => {
    const judged: Array<{ method: string; transport: string; credentials: unknown }> = [];
    const authenticate: Authenticate = ({ method, caller }) => {
      judged.push({ method, transport: caller.transport, credentials: caller.credentials });
      if (caller.transport === 'unix') return;
      if (caller.credentials !== 'Bearer good') throw new P2pdError('CONTROL_SOCKET_INSECURE', 'no valid token');
    };
    const seen: Seen[] = [];
    const d = new Dispatcher({ logger: silentLogger(), handlers: fakeHandlers(seen), authenticate }, { isReady: () => false });
    // Refused before the method is looked up or the ready gate answers: a stranger learns nothing.
    assert.equal(await code(d.call(req('nope', {}, 'web', 'Bearer bad'))), 'CONTROL_SOCKET_INSECURE');
    assert.equal(await code(d.call(req('status', {}, 'web'))), 'CONTROL_SOCKET_INSECURE');
    assert.equal(await code(d.call(req('status', {}, 'web', 'Bearer good'))), 'DAEMON_NOT_RUNNING');
    assert.equal(await code(d.call(req('status', {}, 'unix'))), 'DAEMON_NOT_RUNNING');
    assert.equal(judged.length, 4);
    assert.deepEqual(judged[2], { method: 'status', transport: 'web', credentials: 'Bearer good' });
    assert.deepEqual(seen, []);
  });

  it('turns a hook that throws something other than a P2pdError into a bad request', async () => {
    const d = new Dispatcher({
      logger: silentLogger(),
      handlers: fakeHandlers([]),
      authenticate: async () => {
        throw new Error('boom');
      },
    });
    assert.equal(await code(d.call(req('id'))), 'CONTROL_BAD_REQUEST');
  });

  it('passes the signal and emit through to the handler, and maps its failures', async () => {
    const handlers = fakeHandlers([]);
    handlers.send = async (params, ctx) => {
      ctx.emit('progress', { id: 'x' } as never);
      assert.equal(ctx.caller.transport, 'unix');
      assert.equal(ctx.signal.aborted, false);
      return { transfer: { id: params.peer } as never, skipped: [] };
    };
    handlers.status = async () => {
      throw new TypeError('a bug');
    };
    handlers.cancel = async () => {
      throw new P2pdError('TRANSFER_NOT_FOUND', 'no such');
    };
    const d = new Dispatcher({ logger: silentLogger(), handlers });
    const r = req('send', { peer: 'bob', paths: ['/x'] });
    assert.deepEqual(await d.call(r), { transfer: { id: 'bob' }, skipped: [] });
    assert.deepEqual(r.events, [['progress', { id: 'x' }]]);
    assert.equal(await code(d.call(req('status'))), 'INTERNAL');
    assert.equal(await code(d.call(req('cancel', { id: 'z' }))), 'TRANSFER_NOT_FOUND');
  });
});
