/**
 * The admission gate driven by a fake inbound adapter that is not the p2pd protocol: no frames,
 * no streams, only a sender and an offer described in plain terms, as a LocalSend-like HTTP
 * handler would have them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { P2pdError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import {
  AdmissionGate,
  MAX_OFFERING_PER_ADDRESS,
  MAX_PENDING_OFFERS,
  type AdmissionOptions,
  type IncomingPolicy,
  type OfferOutcome,
  type OfferSender,
  type OfferSummary,
  type PendingOffer,
} from '../../src/transfer/admission.js';
import { MemoryHistory } from '../helpers/memory-history.js';

/** Policy by id: "auto", "ask", or refuse with the given code. */
function policy(rules: Record<string, 'auto' | 'ask' | 'PEER_NOT_TRUSTED' | 'PEER_REFUSED'>, trusted?: readonly string[]): IncomingPolicy {
  return {
    ...(trusted === undefined ? {} : { trusted: (peer: { id: string; verified?: boolean }) => peer.verified !== false && trusted.includes(peer.id) }),
    decide(peer) {
      const rule = peer.verified === false ? 'ask' : (rules[peer.id] ?? 'PEER_NOT_TRUSTED');
      if (rule === 'auto' || rule === 'ask') return rule;
      throw new P2pdError(rule, `${peer.id} is refused`);
    },
    displayName: (peer) => `name-of-${peer.id}`,
  };
}

function gate(
  rules: Parameters<typeof policy>[0],
  over: Partial<AdmissionOptions> = {},
  free = 1e12,
  trusted?: readonly string[],
): { gate: AdmissionGate; history: MemoryHistory; events: Array<[string, unknown]> } {
  const history = new MemoryHistory();
  const g = new AdmissionGate(
    { logger: silentLogger(), policy: policy(rules, trusted), space: { freeBytes: async () => free }, history },
    {
      localName: 'bob',
      askTimeoutMs: 5000,
      minFreeSpace: 1000,
      maxConcurrentIncoming: 2,
      limits: { maxOfferFiles: 10, maxOfferBytes: 0, maxFileSize: 0 },
      ...over,
    },
  );
  const events: Array<[string, unknown]> = [];
  g.on('offer', (o: PendingOffer) => events.push(['offer', o.id]));
  g.on('offer-end', (e: { id: string; outcome: OfferOutcome }) => events.push(['offer-end', e]));
  return { gate: g, history, events };
}

/** The fake adapter's view of a sender: a device alias and an id of its own protocol. */
function sender(id: string, verified = true): OfferSender {
  return { id, claimedName: `phone ${id}`, protocol: 'fake-http', verified };
}

function offer(transferId: string, over: Partial<OfferSummary> = {}): OfferSummary {
  return { transferId, files: 2, bytes: 3000, largestFile: 2000, names: ['a.jpg', 'b.jpg'], ...over };
}

const signal = (): AbortSignal => new AbortController().signal;

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  await assert.rejects(
    async () => (typeof p === 'function' ? p() : p),
    (err: P2pdError) => {
      assert.equal(err.code, code);
      return true;
    },
  );
}

/** Resolves once the gate lists `id` as waiting. */
function waiting(g: AdmissionGate, id: string): Promise<PendingOffer> {
  return new Promise((resolve) => {
    const on = (o: PendingOffer): void => {
      if (o.id !== id) return;
      g.off('offer', on);
      resolve(o);
    };
    g.on('offer', on);
  });
}

describe('admission gate', () => {
  it('"auto" admits at once, names the sender by the policy, and holds a slot until release', async () => {
    const { gate: g, events } = gate({ P1: 'auto' });
    const a = await g.admit(sender('P1'), offer('t1'), { signal: signal() });
    assert.equal(a.decision, 'auto');
    assert.equal(a.name, 'name-of-P1');
    assert.equal(g.receiving, 1);
    a.release();
    a.release();
    assert.equal(g.receiving, 0);
    assert.deepEqual(events, []);
  });

  it('a refused sender is refused before any offer, and leaves one history line per minute', async () => {
    const { gate: g, history } = gate({ P2: 'PEER_REFUSED' });
    for (const code of ['PEER_NOT_TRUSTED', 'PEER_NOT_TRUSTED'] as const) {
      try {
        g.greet(sender('P9'));
        assert.fail('admitted');
      } catch (err) {
        assert.equal((err as P2pdError).code, code);
        g.noteRefusal({ id: 'P9' }, err as P2pdError);
      }
    }
    assert.throws(() => g.greet(sender('P2')), { code: 'PEER_REFUSED' });
    assert.equal(g.receiving, 0);
    assert.deepEqual(
      history.records.map((r) => [r.peer.id, r.direction, r.state, r.error?.code]),
      [['P9', 'in', 'failed', 'PEER_NOT_TRUSTED']],
    );
    assert.equal(g.noteRefusal({ id: 'P9' }, new P2pdError('TIMEOUT', 'not a refusal')), 'ignored');
  });

  it('an id its protocol did not prove is never taken for a trusted peer', async () => {
    const { gate: g } = gate({ P1: 'auto' });
    assert.equal(g.greet(sender('P1', false)).decision, 'ask');
  });

  it('offers over the limits or over the free space are refused', async () => {
    const { gate: g } = gate({ P1: 'auto' }, { limits: { maxOfferFiles: 10, maxOfferBytes: 5000, maxFileSize: 1500 } }, 4500);
    await rejectsWith(g.admit(sender('P1'), offer('t1', { files: 11 }), { signal: signal() }), 'OFFER_TOO_LARGE');
    await rejectsWith(g.admit(sender('P1'), offer('t2', { bytes: 6000 }), { signal: signal() }), 'OFFER_TOO_LARGE');
    await rejectsWith(g.admit(sender('P1'), offer('t3', { largestFile: 2000 }), { signal: signal() }), 'OFFER_TOO_LARGE');
    // 3000 bytes + 1000 reserve fit in 4500; 4000 + 1000 do not.
    (await g.admit(sender('P1'), offer('t4', { largestFile: 1000 }), { signal: signal() })).release();
    await rejectsWith(g.admit(sender('P1'), offer('t5', { bytes: 4000, largestFile: 1000 }), { signal: signal() }), 'INSUFFICIENT_SPACE');
    assert.equal(g.receiving, 0);
  });

  it('busy: no more than maxConcurrentIncoming at once', async () => {
    const { gate: g } = gate({ P1: 'auto' });
    const a = g.greet(sender('P1'));
    const b = g.greet(sender('P1'));
    assert.throws(() => g.greet(sender('P1')), { code: 'PEER_BUSY' });
    a.release();
    const c = g.greet(sender('P1'));
    b.release();
    c.release();
    assert.equal(g.receiving, 0);
  });

  it('"ask": the offer waits (without a slot) until a person accepts, and is listed meanwhile', async () => {
    const { gate: g, events } = gate({ P1: 'ask' }, { maxConcurrentIncoming: 1 });
    let onWaiting = 0;
    const listed = waiting(g, 't1');
    const admitted = g.admit(sender('P1'), offer('t1'), { signal: signal(), onWaiting: () => onWaiting++ });
    const pending = await listed;
    assert.deepEqual(
      { ...pending, receivedAt: '', expiresAt: '' },
      { id: 't1', peer: { id: 'P1', name: 'name-of-P1', trusted: false }, files: 2, bytes: 3000, names: ['a.jpg', 'b.jpg'], receivedAt: '', expiresAt: '' },
    );
    assert.deepEqual(
      g.incoming().map((o) => o.id),
      ['t1'],
    );
    assert.equal(onWaiting, 1);
    // Waiting holds no slot: a trusted sender still gets in.
    assert.equal(g.receiving, 0);
    g.greet(sender('P1')).release();
    assert.equal(g.answer('t1', true).id, 't1');
    const a = await admitted;
    assert.equal(g.receiving, 1);
    assert.deepEqual(g.incoming(), []);
    a.release();
    assert.deepEqual(events, [
      ['offer', 't1'],
      ['offer-end', { id: 't1', outcome: 'accepted' }],
    ]);
    assert.throws(() => g.answer('t1', true), { code: 'OFFER_NOT_FOUND' });
  });

  it('"ask": a rejection, a timeout and a cancel each end the wait with their own outcome', async () => {
    const { gate: g, events } = gate({ P1: 'ask' }, { askTimeoutMs: 50 });
    const listed = waiting(g, 'rej');
    const rejected = g.admit(sender('P1'), offer('rej'), { signal: signal() });
    await listed;
    g.answer('rej', false);
    await rejectsWith(rejected, 'PEER_REFUSED');

    await rejectsWith(g.admit(sender('P1'), offer('exp'), { signal: signal() }), 'PEER_REFUSED');

    const controller = new AbortController();
    const listed2 = waiting(g, 'can');
    const cancelled = g.admit(sender('P1'), offer('can'), { signal: controller.signal });
    await listed2;
    controller.abort(new P2pdError('TRANSFER_CANCELLED', 'the sender gave up'));
    await rejectsWith(cancelled, 'TRANSFER_CANCELLED');

    assert.deepEqual(
      events.filter(([e]) => e === 'offer-end').map(([, v]) => v),
      [
        { id: 'rej', outcome: 'rejected' },
        { id: 'exp', outcome: 'expired' },
        { id: 'can', outcome: 'cancelled' },
      ],
    );
    assert.equal(g.receiving, 0);
    assert.deepEqual(g.incoming(), []);
  });

  it('the waiting list is bounded: one more offer than MAX_PENDING_OFFERS is PEER_BUSY', async () => {
    const { gate: g } = gate({ P1: 'ask' });
    const controller = new AbortController();
    const waits: Array<Promise<unknown>> = [];
    for (let i = 0; i < MAX_PENDING_OFFERS; i++) {
      // One at a time: each holds a receiving slot until it starts waiting.
      const listed = waiting(g, `w${i}`);
      const w = g.admit(sender('P1'), offer(`w${i}`), { signal: controller.signal });
      w.catch(() => undefined);
      waits.push(w);
      await listed;
    }
    assert.equal(g.incoming().length, MAX_PENDING_OFFERS);
    await rejectsWith(g.admit(sender('P1'), offer('one-more'), { signal: signal() }), 'PEER_BUSY');
    controller.abort(new P2pdError('TRANSFER_CANCELLED', 'done'));
    await Promise.allSettled(waits);
    assert.deepEqual(g.incoming(), []);
    assert.equal(g.receiving, 0);
  });

  it('after an accepted wait, a full house is PEER_BUSY', async () => {
    const { gate: g } = gate({ P1: 'ask', P2: 'auto' }, { maxConcurrentIncoming: 1 });
    const listed = waiting(g, 't1');
    const admitted = g.admit(sender('P1'), offer('t1'), { signal: signal() });
    await listed;
    const other = g.greet(sender('P2'));
    g.answer('t1', true);
    await rejectsWith(admitted, 'PEER_BUSY');
    other.release();
    assert.equal(g.receiving, 0);
  });

  it('a stranger takes no receiving slot before its offer is decided; connections still reading an offer are bounded per address', () => {
    const { gate: g } = gate({ bob: 'auto' }, { maxConcurrentIncoming: 2 }, 1e12, ['bob']);
    const strangers: Array<ReturnType<AdmissionGate['arrive']>> = [];
    for (let i = 0; i < MAX_OFFERING_PER_ADDRESS; i++) {
      const arrival = g.arrive({ peerId: `S${i}`, address: '10.0.0.9', protocol: 'fake-http' });
      strangers.push(arrival);
      g.greet(sender(`S${i}`, false), arrival);
    }
    assert.equal(g.receiving, 0);
    const extra = g.arrive({ peerId: 'S-extra', address: '10.0.0.9', protocol: 'fake-http' });
    assert.throws(() => g.greet(sender('S-extra', false), extra), { code: 'PEER_BUSY' });
    extra.leave();
    // Another address still gets in; trusted bob takes his slot at once.
    const elsewhere = g.arrive({ peerId: 'S-other', address: '10.0.0.10', protocol: 'fake-http' });
    g.greet(sender('S-other', false), elsewhere);
    const bob = g.greet(sender('bob'), g.arrive({ peerId: 'bob', address: '10.0.0.9', protocol: 'fake-http' }));
    assert.equal(g.receiving, 1);
    const listed = g.inbound();
    assert.equal(listed.filter((c) => c.phase === 'offer').length, MAX_OFFERING_PER_ADDRESS + 2);
    assert.ok(listed.every((c) => typeof c.since === 'string' && c.address.startsWith('10.0.0.')));
    bob.release();
    for (const a of strangers) a.leave();
    elsewhere.leave();
    assert.equal(g.inbound().length, 1); // bob's: a transfer's manager leaves it when the offer comes
  });

  it('untrusted senders hold at most half the receiving slots: the rest stay free for trusted peers', async () => {
    const { gate: g } = gate({ bob: 'auto', S1: 'auto', S2: 'auto', S3: 'auto' }, { maxConcurrentIncoming: 4 }, 1e12, ['bob']);
    const a = await g.admit(sender('S1'), offer('s1'), { signal: signal() });
    const b = await g.admit(sender('S2'), offer('s2'), { signal: signal() });
    await rejectsWith(g.admit(sender('S3'), offer('s3'), { signal: signal() }), 'PEER_BUSY');
    const bob1 = g.greet(sender('bob'));
    const bob2 = g.greet(sender('bob'));
    assert.equal(g.receiving, 4);
    for (const x of [a, b, bob1, bob2]) x.release();
    assert.equal(g.receiving, 0);
  });

  it('accept or reject on an offer that no longer waits says what became of it', async () => {
    const { gate: g } = gate({ P1: 'ask' });
    const controller = new AbortController();
    const listed = waiting(g, 'gone');
    const w = g.admit(sender('P1'), offer('gone'), { signal: controller.signal });
    await listed;
    controller.abort(new P2pdError('TRANSFER_CANCELLED', 'the sender cancelled'));
    await rejectsWith(w, 'TRANSFER_CANCELLED');
    assert.deepEqual(g.incoming(), []);
    assert.throws(
      () => g.answer('gone', true),
      (err: P2pdError) => {
        assert.equal(err.code, 'OFFER_NOT_FOUND');
        assert.match(err.message, /cancelled/);
        assert.equal(err.details?.outcome, 'cancelled');
        return true;
      },
    );
    assert.throws(
      () => g.answer('never', true),
      (err: P2pdError) => err.code === 'OFFER_NOT_FOUND' && /no offer waiting/.test(err.message),
    );
  });
});
