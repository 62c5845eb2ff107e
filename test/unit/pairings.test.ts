/**
 * The pairing list under attack: requests that commit and never reveal, from many keys and one
 * address. Every step has a deadline, the person can reject any entry listed, one address cannot
 * fill the list, and requests from others never take the room of a pairing the user starts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { P2pdError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { DecodedEvent } from '../../src/protocol/messages.js';
import type { Connector } from '../../src/transfer/drivers.js';
import type { PairingIo } from '../../src/transfer/pairing.js';
import { PairingManager, type PairingOutcome } from '../../src/transfer/pairings.js';
import { duplexPair } from '../helpers/duplex-pair.js';

/** A peer that sent PAIR_COMMIT and then nothing: `next()` never resolves. */
function silentIo(): PairingIo {
  return { send: () => undefined, next: () => new Promise<DecodedEvent>(() => undefined) };
}

function manager(options: { timeoutMs?: number; handshakeTimeoutMs?: number } = {}, connect?: Connector['connect']) {
  const connector: Connector = {
    resolve: (query) => ({ protocol: 'p2pd', id: query, name: query }),
    connect: connect ?? (() => Promise.reject(new P2pdError('PEER_UNREACHABLE', 'no network in this test'))),
  };
  const trusted: string[] = [];
  const m = new PairingManager(
    {
      logger: silentLogger(),
      connector,
      trust: { trust: (peer) => void trusted.push(peer.id) },
      policy: { mayPair: () => undefined, displayName: (peer) => peer.helloName },
    },
    {
      localId: 'L'.repeat(52),
      localName: 'alice',
      software: 'p2pd/test',
      timeoutMs: options.timeoutMs ?? 5000,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 5000,
      idleTimeoutMs: 5000,
    },
  );
  const ends: Array<{ id: string; outcome: PairingOutcome }> = [];
  m.on('pairing-end', (e) => ends.push(e));
  return { m, ends, trusted };
}

function request(i: number, address = `10.0.0.${i}`) {
  return { peerId: `K${i}`.padEnd(52, 'x'), address, helloName: `stranger-${i}`, commit: 'c'.repeat(64), io: silentIo() };
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: P2pdError) => {
    assert.equal(err.code, code);
    return true;
  });
}

describe('pairing list', () => {
  it('requests that never reveal expire at the step deadline: each leaves the list with outcome "expired"', async () => {
    const { m, ends, trusted } = manager({ timeoutMs: 5000, handshakeTimeoutMs: 100 });
    const runs = Array.from({ length: 8 }, (_, i) => m.respond(request(i)));
    assert.equal(m.list().length, 8);
    assert.ok(m.list().every((p) => p.direction === 'in' && p.state === 'connecting'));
    for (const r of runs) await rejectsWith(r, 'TIMEOUT');
    assert.deepEqual(m.list(), []);
    assert.equal(ends.length, 8);
    assert.ok(ends.every((e) => e.outcome === 'expired'));
    assert.deepEqual(trusted, []);
  });

  it('the person can reject an entry that has no code yet: it goes at once, outcome "rejected"', async () => {
    const { m, ends } = manager();
    const run = m.respond(request(1));
    const [entry] = m.list();
    assert.ok(entry !== undefined);
    assert.equal(m.answer(entry.id, false).id, entry.id);
    assert.deepEqual(m.list(), []);
    await rejectsWith(run, 'PAIRING_REJECTED');
    assert.deepEqual(ends, [{ id: entry.id, outcome: 'rejected' }]);
    // Confirming needs a code; the message says so.
    const other = m.respond(request(2));
    const [second] = m.list();
    assert.throws(
      () => m.answer(second!.id, true),
      (err: P2pdError) => err.code === 'PAIRING_NOT_FOUND' && /no code/.test(err.message),
    );
    m.answer(second!.id, false);
    await rejectsWith(other, 'PAIRING_REJECTED');
  });

  it('one address may have two requests waiting and make six a minute', async () => {
    const { m } = manager();
    const runs = [m.respond(request(1, '10.9.9.9')), m.respond(request(2, '10.9.9.9'))];
    await rejectsWith(m.respond(request(3, '10.9.9.9')), 'PEER_BUSY');
    for (const p of m.list()) m.answer(p.id, false);
    for (const r of runs) await rejectsWith(r, 'PAIRING_REJECTED');
    for (let i = 4; i < 8; i++) {
      const r = m.respond(request(i, '10.9.9.9'));
      m.answer(m.list()[0]!.id, false);
      await rejectsWith(r, 'PAIRING_REJECTED');
    }
    await rejectsWith(m.respond(request(9, '10.9.9.9')), 'PEER_BUSY');
    assert.deepEqual(m.list(), []);
  });

  it('a full list of requests from others does not block a pairing the user starts', async () => {
    const sockets: Duplex[] = [];
    const { m } = manager({}, () => {
      const [a, b] = duplexPair();
      sockets.push(a, b);
      return Promise.resolve({ socket: a, peer: { id: 'B'.repeat(52), name: 'bob' } });
    });
    const runs = Array.from({ length: 8 }, (_, i) => m.respond(request(i)));
    for (const r of runs) r.catch(() => undefined);
    await rejectsWith(m.respond(request(99)), 'PEER_BUSY');
    const controller = new AbortController();
    const mine = m.initiate('bob', { signal: controller.signal, onCode: () => undefined });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(m.list().some((p) => p.direction === 'out' && p.peer.name === 'bob'));
    controller.abort(new P2pdError('TRANSFER_CANCELLED', 'test over'));
    await assert.rejects(mine);
    for (const p of m.list()) m.answer(p.id, false);
    await Promise.allSettled(runs);
    for (const s of sockets) s.destroy();
    assert.deepEqual(m.list(), []);
  });
});
