/** Pairing sessions over in-memory pipes: agreement, refusal, tampering and a man in the middle. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type Duplex } from 'node:stream';
import { pairingCode, pairingCommit } from '../../src/protocol/pairing-code.js';
import { encodeMessage, encodePreface } from '../../src/protocol/codec.js';
import { FrameWriter, readEvents } from '../../src/transfer/frame-io.js';
import { runPairingInitiator, runPairingResponder, type PairingIo } from '../../src/transfer/pairing.js';
import { duplexPair } from '../helpers/duplex-pair.js';

const ID_I = 'I'.repeat(51) + 'A';
const ID_R = 'R'.repeat(51) + 'A';
const ID_M = 'M'.repeat(51) + 'A';

/** Plays the listener: preface, HELLO, then hands the commit to the responder session. */
async function responderOn(socket: Duplex, opts: { localId: string; peerId: string; decide: (code: string) => Promise<boolean> }) {
  const writer = new FrameWriter(socket);
  const events = readEvents(socket)[Symbol.asyncIterator]();
  const io: PairingIo = {
    send: (m) => void writer.send(m),
    async next() {
      for (;;) {
        const r = await events.next();
        if (r.done) throw Object.assign(new Error('closed'), { code: 'CONNECTION_LOST' });
        if (r.value.type === 'ping' || r.value.type === 'pong') continue;
        if (r.value.type === 'error') throw Object.assign(new Error(r.value.message), { code: r.value.code });
        return r.value;
      }
    },
  };
  writer.preface();
  writer.send({ type: 'hello', name: 'responder', software: 't', features: ['pairing'] });
  assert.equal((await io.next()).type, 'preface');
  const hello = await io.next();
  assert.equal(hello.type, 'hello');
  const commit = await io.next();
  assert.equal(commit.type, 'pair-commit');
  if (commit.type !== 'pair-commit') throw new Error('no commit');
  try {
    return await runPairingResponder(io, { localId: opts.localId, peerId: opts.peerId, peerName: 'initiator', commit: commit.commit, onCode: opts.decide });
  } finally {
    socket.end();
  }
}

function initiatorOn(socket: Duplex, opts: { localId: string; peerId: string; decide: (code: string) => Promise<boolean> }) {
  return runPairingInitiator(
    { socket },
    {
      localId: opts.localId,
      peerId: opts.peerId,
      localName: 'initiator',
      software: 't',
      signal: new AbortController().signal,
      handshakeTimeoutMs: 2000,
      idleTimeoutMs: 5000,
      onCode: opts.decide,
    },
  );
}

describe('pairing', () => {
  it('both sides see the same code and both confirm', async () => {
    const [a, b] = duplexPair();
    const codes: string[] = [];
    const [i, r] = await Promise.all([
      initiatorOn(a, { localId: ID_I, peerId: ID_R, decide: async (c) => (codes.push(c), true) }),
      responderOn(b, { localId: ID_R, peerId: ID_I, decide: async (c) => (codes.push(c), true) }),
    ]);
    assert.match(i.code, /^\d{3} \d{3}$/);
    assert.equal(i.code, r.code);
    assert.deepEqual(codes, [i.code, i.code]);
  });

  it('a "no" on either side means nobody is trusted, and the other side hears it', async () => {
    for (const noAt of ['initiator', 'responder'] as const) {
      const [a, b] = duplexPair();
      const res = await Promise.allSettled([
        initiatorOn(a, { localId: ID_I, peerId: ID_R, decide: async () => noAt !== 'initiator' }),
        responderOn(b, { localId: ID_R, peerId: ID_I, decide: async () => noAt !== 'responder' }),
      ]);
      for (const r of res) {
        assert.equal(r.status, 'rejected', noAt);
        assert.equal((r as PromiseRejectedResult).reason.code, 'PAIRING_REJECTED', noAt);
      }
    }
  });

  it('a reveal that does not match the commitment is PAIRING_FAILED', async () => {
    const [a, b] = duplexPair();
    const responding = responderOn(b, { localId: ID_R, peerId: ID_I, decide: async () => true });
    a.write(encodePreface());
    a.write(encodeMessage({ type: 'hello', name: 'mallory', software: 'x', features: ['pairing'] }));
    a.write(encodeMessage({ type: 'pair-commit', commit: pairingCommit(randomBytes(32).toString('hex')) }));
    a.write(encodeMessage({ type: 'pair-reveal', nonce: randomBytes(32).toString('hex') }));
    await assert.rejects(responding, { code: 'PAIRING_FAILED' });
    a.destroy();
  });

  it('a man in the middle (its own key towards each side) makes the two codes differ', async () => {
    // Initiator ↔ M (M plays responder with id M) and M ↔ responder (M plays initiator with id M).
    const [i1, m1] = duplexPair();
    const [m2, r2] = duplexPair();
    const seen: Record<string, string> = {};
    const results = await Promise.allSettled([
      initiatorOn(i1, { localId: ID_I, peerId: ID_M, decide: async (c) => ((seen.initiator = c), true) }),
      responderOn(m1, { localId: ID_M, peerId: ID_I, decide: async (c) => ((seen.mToI = c), true) }),
      initiatorOn(m2, { localId: ID_M, peerId: ID_R, decide: async (c) => ((seen.mToR = c), true) }),
      responderOn(r2, { localId: ID_R, peerId: ID_M, decide: async (c) => ((seen.responder = c), true) }),
    ]);
    assert.ok(results.every((r) => r.status === 'fulfilled'));
    // What the two people compare: different codes, so they refuse (p ≈ 1e-6 of a collision).
    assert.notEqual(seen.initiator, seen.responder);
  });

  it('a peer of another protocol version is PROTOCOL_VERSION, and it is told so', async () => {
    const [a, b] = duplexPair();
    b.write(encodePreface(2));
    b.write(encodeMessage({ type: 'hello', name: 'future', software: 'p2pd/9', features: ['pairing'] }));
    const heard = (async () => {
      const seen: string[] = [];
      for await (const e of readEvents(b)) {
        seen.push(e.type === 'error' ? `error:${e.code}` : e.type);
        if (e.type === 'error') break;
      }
      return seen;
    })();
    await assert.rejects(initiatorOn(a, { localId: ID_I, peerId: ID_R, decide: async () => true }), (err: { code?: string }) => {
      assert.equal(err.code, 'PROTOCOL_VERSION');
      return true;
    });
    assert.deepEqual(await heard, ['preface', 'hello', 'error:PROTOCOL_VERSION']);
    b.destroy();
  });

  it('the code depends on both ids and both nonces', () => {
    const n1 = '11'.repeat(32);
    const n2 = '22'.repeat(32);
    const base = pairingCode({ initiatorId: ID_I, responderId: ID_R, initiatorNonce: n1, responderNonce: n2 });
    assert.notEqual(base, pairingCode({ initiatorId: ID_M, responderId: ID_R, initiatorNonce: n1, responderNonce: n2 }));
    assert.notEqual(base, pairingCode({ initiatorId: ID_I, responderId: ID_M, initiatorNonce: n1, responderNonce: n2 }));
    assert.notEqual(base, pairingCode({ initiatorId: ID_I, responderId: ID_R, initiatorNonce: n2, responderNonce: n2 }));
    assert.notEqual(base, pairingCode({ initiatorId: ID_I, responderId: ID_R, initiatorNonce: n1, responderNonce: n1 }));
    assert.equal(base, pairingCode({ initiatorId: ID_I, responderId: ID_R, initiatorNonce: n1, responderNonce: n2 }));
  });
});
