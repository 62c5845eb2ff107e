/**
 * Hostile use of resources against a real daemon: handshakes that never finish (slowloris, raw TCP
 * that never starts TLS), a peer that goes silent, thousands of connections in a bounded burst,
 * more concurrent senders than allowed, and offers of millions of tiny files. The daemon must drop
 * what stalls within its timeouts, free every connection, refuse what is over its limits before
 * allocating for it, stay within bounded memory for what is within them, and keep serving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { encodePreface } from '../../src/protocol/codec.js';
import { sleep, waitFor } from '../helpers/daemons.js';
import {
  closedWithin,
  dirEntry,
  fdCount,
  fileEntry,
  goodTransfer,
  type HostileClient,
  HostileFixture,
  rawFrame,
  rssOf,
  tcpConnect,
} from '../helpers/hostile-client.js';

const MiB = 1024 * 1024;

/** Samples a process's RSS until stopped; returns the peak. */
function sampleRss(pid: number, everyMs = 25): { stop: () => Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await rssOf(pid).catch(() => 0));
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Math.max(peak, await rssOf(pid).catch(() => 0));
    },
  };
}

/** Waits until the daemon holds no more descriptors than `baseline` (plus `slack`). */
async function fdsBackTo(pid: number, baseline: number, slack = 3): Promise<void> {
  let now = 0;
  await waitFor(
    async () => {
      now = await fdCount(pid);
      return now <= baseline + slack;
    },
    8000,
    `the daemon's descriptors to fall back to ${baseline} (+${slack})`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; it holds ${now}`);
  });
}

describe('hostile resources: stalls, floods and huge offers', { timeout: 180_000 }, () => {
  describe('with a 1 s handshake timeout and a 5 s idle timeout', () => {
    let fx: HostileFixture;
    let idleEvents: HostileClient['events'] = [];

    before(async () => {
      fx = await HostileFixture.start({ name: 'stalls', limits: { handshakeTimeoutSeconds: 1, idleTimeoutSeconds: 5 } });
    });

    after(async () => {
      await fx?.dispose();
    });

    it('hostile: raw TCP clients that never start TLS, or stall inside it, are dropped within the handshake timeout', async () => {
      const before = await fx.snapshot();
      const pid = fx.daemon.pid!;
      const baseline = await fdCount(pid);
      const silent = await tcpConnect(fx.target.port);
      const stalled = await tcpConnect(fx.target.port);
      stalled.write(Buffer.from('160301', 'hex')); // the first bytes of a TLS record, then nothing
      const [a, b] = await Promise.all([closedWithin(silent, 4000), closedWithin(stalled, 4000)]);
      assert.ok(a >= 500 && b >= 500, `dropped after ${a} and ${b} ms: too early for a 1 s timeout`);
      await fdsBackTo(pid, baseline);
      await fx.checkAfter(before);
    });

    it('hostile: 500 stalled TCP connections at once do not stop the daemon serving an honest peer, and all are dropped', async () => {
      const before = await fx.snapshot();
      const pid = fx.daemon.pid!;
      const baseline = await fdCount(pid);
      const sockets: net.Socket[] = [];
      for (let i = 0; i < 500; i += 50) sockets.push(...(await Promise.all(Array.from({ length: 50 }, () => tcpConnect(fx.target.port)))));
      // While they stall, an honest transfer still goes through (its TLS handshake included).
      const started = Date.now();
      const name = await goodTransfer(fx.target, fx.identity, fx.inbox);
      const goodMs = Date.now() - started;
      const closes = await Promise.all(sockets.map((s) => closedWithin(s, 6000)));
      assert.ok(Math.max(...closes) < 6000);
      await fdsBackTo(pid, baseline);
      await fx.checkAfter(before, { newInInbox: [name] });
      assert.ok(goodMs < 5000, `the honest transfer took ${goodMs} ms among the stalled connections`);
    });

    it('hostile: a TLS client that trickles its handshake byte by byte (slowloris), or says HELLO and then nothing, gets ERROR TIMEOUT within the handshake timeout', async () => {
      const before = await fx.snapshot();
      const hello = rawFrame(0x01, '{"name":"slow","software":"x","features":[]}');
      // The preface byte by byte; then preface, HELLO and the first bytes of an OFFER byte by byte.
      for (const bytes of [encodePreface(), Buffer.concat([encodePreface(), hello, rawFrame(0x02, '{"transferId":"slow"')])]) {
        const client = await fx.connect();
        const started = Date.now();
        const trickle = (async () => {
          for (const byte of bytes) {
            if (client.isClosed) return;
            client.raw(Buffer.from([byte]));
            await sleep(300);
          }
        })();
        const error = await client.error(4000);
        assert.equal(error.code, 'TIMEOUT');
        await client.closed(2000);
        const took = Date.now() - started;
        assert.ok(took >= 900 && took < 4000, `dropped after ${took} ms`);
        await trickle;
      }
      // Preface and HELLO at once, then nothing (and no OFFER) for ever.
      const client = await fx.connect({ autoPong: false });
      const started = Date.now();
      client.hello();
      assert.equal((await client.error(5000)).code, 'TIMEOUT');
      await client.closed(2000);
      assert.ok(Date.now() - started < 4000);
      client.destroy();
      await fx.checkAfter(before);
    });

    it('hostile: a peer that goes silent after its offer was accepted is dropped by the idle timeout', async () => {
      const before = await fx.snapshot();
      const client = await fx.accepted([fileEntry(`idle${fx.marker}`, 10)], { autoPong: false });
      const started = Date.now();
      await client.closed(9000);
      const took = Date.now() - started;
      assert.ok(took >= 4000 && took < 9000, `dropped after ${took} ms with a 5 s idle timeout`);
      idleEvents = client.events;
      const error = client.events.find((e) => e.type === 'error');
      if (error !== undefined) assert.equal(error.code, 'TIMEOUT');
      client.destroy();
      await fx.checkAfter(before);
    });

    it('hostile: the idle timeout tells the silent peer ERROR TIMEOUT before dropping it', () => {
      assert.ok(
        idleEvents.some((e) => e.type === 'error' && e.code === 'TIMEOUT'),
        `seen: ${JSON.stringify(idleEvents.map((e) => e.type))}`,
      );
    });

    it('hostile: an offer of 5,000,000 tiny files is OFFER_TOO_LARGE from its first frame, without allocating for it', async () => {
      const before = await fx.snapshot();
      const pid = fx.daemon.pid!;
      const rssBefore = await rssOf(pid);
      const entries = Array.from({ length: 1000 }, (_, i) => fileEntry(`tiny${fx.marker}/${i}`, 0));
      const started = Date.now();
      // The first frame announces 5,000,000 entries; the rest would follow, but the answer comes first.
      const client = await fx.connect();
      client.hello().raw(rawFrame(0x02, JSON.stringify({ transferId: 'millions', totalFiles: 5_000_000, totalBytes: 0, entries, more: true })));
      const answer = await client.answer();
      assert.deepEqual([answer.accept, answer.code], [false, 'OFFER_TOO_LARGE']);
      await client.closed();
      client.destroy();
      assert.ok(Date.now() - started < 2000, 'refused at once');
      const grown = (await rssOf(pid)) - rssBefore;
      assert.ok(grown < 32 * MiB, `the daemon grew by ${(grown / MiB).toFixed(1)} MiB`);
      // The same through the helper, with the tiny files' data pipelined behind the offer.
      await fx.expectRefused(entries, 'OFFER_TOO_LARGE', { offer: { totalFiles: 5_000_000 } });
      await fx.checkAfter(before);
    });
  });

  describe('with accept: "trusted" and a 1 s handshake timeout', () => {
    let fx: HostileFixture;

    before(async () => {
      fx = await HostileFixture.start({ name: 'strangers', accept: 'trusted', limits: { handshakeTimeoutSeconds: 1 } });
    });

    after(async () => {
      await fx?.dispose();
    });

    it('hostile: an untrusted peer is refused with ERROR PEER_NOT_TRUSTED; its offer is never read', async () => {
      const before = await fx.snapshot();
      const client = await fx.expectError('PEER_NOT_TRUSTED', (c) =>
        c
          .offer([fileEntry(`stranger${fx.marker}`, 3)])
          .sendFile(0, Buffer.from('abc'))
          .done(),
      );
      assert.equal(
        client.events.some((e) => e.type === 'answer'),
        false,
      );
      await fx.checkAfter(before, { skipGoodTransfer: true });
    });

    it('hostile: an untrusted peer cannot hold a connection open with PINGs after HELLO: ERROR TIMEOUT within the handshake timeout', async () => {
      const before = await fx.snapshot();
      const client = await fx.connect();
      const started = Date.now();
      client.hello();
      const pinger = setInterval(() => client.raw(rawFrame(0x0b, '{}')), 200);
      try {
        const error = await client.error(5000);
        assert.equal(error.code, 'TIMEOUT');
        await client.closed(2000);
      } finally {
        clearInterval(pinger);
        client.destroy();
      }
      const took = Date.now() - started;
      assert.ok(took < 4000, `held for ${took} ms`);
      await fx.checkAfter(before, { skipGoodTransfer: true });
    });

    it('once trusted (`p2pd trust <id>`), the same peer can send', async () => {
      const trust = await fx.daemon.cli(['trust', fx.identity.id]);
      assert.equal(trust.code, 0, trust.stderr);
      const before = await fx.snapshot(); // trusting made an outbox folder for the peer
      const name = await goodTransfer(fx.target, fx.identity, fx.inbox);
      await fx.checkAfter(before, { newInInbox: [name] });
    });
  });

  describe('with maxOfferFiles 250,000 and the default timeouts', () => {
    const LIMIT = 250_000;
    let fx: HostileFixture;

    before(async () => {
      // limits.maxOfferFiles scaled down from the default 1,000,000 to keep the suite short; the
      // default is measured in the report that came with this suite.
      fx = await HostileFixture.start({ name: 'floods', limits: { maxOfferFiles: LIMIT } });
    });

    after(async () => {
      await fx?.dispose();
    });

    it('hostile: 2,000 connections in a bounded burst: the daemon stays up, frees them all and still takes a file', async (t) => {
      const before = await fx.snapshot();
      const pid = fx.daemon.pid!;
      const baseline = await fdCount(pid);
      const started = Date.now();
      const garbage = [Buffer.alloc(0), Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from('16030100c8010000c40303', 'hex'), randomBytes(512)];
      const BATCH = 100;
      for (let i = 0; i < 2000; i += BATCH) {
        await Promise.all(
          Array.from({ length: BATCH }, async (_, j) => {
            const socket = await tcpConnect(fx.target.port);
            socket.on('error', () => undefined);
            const g = garbage[(i + j) % garbage.length]!;
            if (g.length > 0) socket.write(g);
            socket.destroy();
          }),
        );
      }
      // And 100 that complete TLS and HELLO before they hang up.
      for (let i = 0; i < 100; i += 20) {
        await Promise.all(
          Array.from({ length: 20 }, async () => {
            const client = await fx.connect();
            client.hello();
            await client.flushed();
            client.destroy();
          }),
        );
      }
      const burstMs = Date.now() - started;
      t.diagnostic(`2,000 TCP and 100 TLS connections in ${burstMs} ms`);
      assert.ok(burstMs < 20_000, `the burst took ${burstMs} ms`);
      await fdsBackTo(pid, baseline);
      await fx.checkAfter(before);
    });

    it('hostile: more concurrent untrusted senders than their half of maxConcurrentIncoming: the extra one gets ERROR PEER_BUSY', async () => {
      const before = await fx.snapshot();
      const holders: HostileClient[] = [];
      try {
        // Four accepted transfers that never send their data hold the untrusted half of the eight
        // default slots (the other half stays free for trusted peers: hostile-gate.test.ts).
        for (let i = 0; i < 4; i++) holders.push(await fx.accepted([fileEntry(`hold${fx.marker}-${i}`, 10)]));
        await fx.expectError('PEER_BUSY', (c) => c.offer([fileEntry(`busy${fx.marker}`, 1)]));
      } finally {
        for (const h of holders) h.destroy();
      }
      // The slots come back once the holders are gone.
      const ids = new Set(holders.map((h) => h.transferId));
      await waitFor(
        async () => {
          const { transfers } = await fx.daemon.json<{ transfers: Array<{ id: string; state: string }> }>(['status']);
          return transfers.filter((t) => ids.has(t.id) && t.state === 'failed').length === ids.size;
        },
        5000,
        'the holders to end',
      );
      await fx.checkAfter(before);
    });

    it(`hostile: an offer at the limit (${LIMIT.toLocaleString('en')} entries in hundreds of OFFER frames) is handled in bounded memory`, async (t) => {
      const before = await fx.snapshot();
      const pid = fx.daemon.pid!;
      const top = `flood${fx.marker}`;
      const entries = [dirEntry(top)];
      for (let i = 1; i < LIMIT; i++) entries.push(fileEntry(`${top}/f${i}`, 0));
      const rssBefore = await rssOf(pid);
      const sampler = sampleRss(pid);
      const started = Date.now();
      const client = await fx.connect();
      client.hello().offer(entries, { maxPayload: 64 * 1024 });
      const answer = await client.answer(60_000);
      const answerMs = Date.now() - started;
      assert.equal(answer.accept, true, `${answer.code}: ${answer.message}`);
      client.destroy();
      await client.closed();
      const peak = await sampler.stop();
      // One entry over the limit is refused from the first frame.
      await fx.expectRefused([fileEntry(`over${fx.marker}`, 0)], 'OFFER_TOO_LARGE', { offer: { totalFiles: LIMIT + 1 } });
      // More entries than announced are refused as they arrive.
      await fx.expectRefused(
        Array.from({ length: 11 }, (_, i) => fileEntry(`more${fx.marker}-${i}`, 0)),
        'OFFER_INVALID',
        { offer: { totalFiles: 10, maxPayload: 200 }, pipeline: false },
      );
      t.diagnostic(
        `offer of ${LIMIT} entries: answered in ${answerMs} ms; daemon RSS ${(rssBefore / MiB).toFixed(0)} MiB before, peak ${(peak / MiB).toFixed(0)} MiB`,
      );
      assert.ok(peak < 300 * MiB, `the daemon's RSS peaked at ${(peak / MiB).toFixed(0)} MiB`);
      await fx.checkAfter(before);
    });

    it('hostile: an offer whose names add up to more than 64 Mi characters is OFFER_TOO_LARGE, in bounded memory', async (t) => {
      const before = await fx.snapshot();
      const pid = fx.daemon.pid!;
      // 16,788 entries of 4,017 characters: 67 Mi characters of names, about 70 MB of OFFER frames.
      const long = 'n'.repeat(250) + `/${'n'.repeat(250)}`.repeat(15);
      const entries = Array.from({ length: Math.ceil((64 * MiB) / 4000) + 10 }, (_, i) => fileEntry(`${i}${fx.marker}/${long}`, 0));
      const sampler = sampleRss(pid);
      const client = await fx.connect();
      client.hello().offer(entries);
      const answer = await client.answer(30_000);
      assert.deepEqual([answer.accept, answer.code], [false, 'OFFER_TOO_LARGE']);
      client.destroy();
      await client.closed();
      const peak = await sampler.stop();
      t.diagnostic(`offer of ${entries.length} names of ${long.length + 10} characters: daemon RSS peak ${(peak / MiB).toFixed(0)} MiB`);
      // 64 Mi characters of names are held (one byte each here) until the limit trips.
      assert.ok(peak < 384 * MiB, `the daemon's RSS peaked at ${(peak / MiB).toFixed(0)} MiB`);
      await fx.checkAfter(before);
    });
  });
});
