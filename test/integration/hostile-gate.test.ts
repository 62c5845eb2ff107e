/**
 * The admission gate and the pairing list under attack from untrusted keys on the LAN (issue 10,
 * items 2 and 3; issue 11, offers that no longer exist): strangers that stall their offers with
 * heartbeats, pairing requests that commit and never reveal, and an offer withdrawn while it waits
 * for a person. Trusted peers and the user's own pairings must get through at once, every stalled
 * connection must show in `status` and go at its deadline.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Identity } from '../../src/transport/index.js';
import { sleep, TestDaemon, waitFor } from '../helpers/daemons.js';
import { fileEntry, goodTransfer, HostileClient, HostileFixture, hostileIdentity, targetOf } from '../helpers/hostile-client.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

interface InboundJson {
  peer: { id: string; name: string };
  address: string;
  protocol: string;
  since: string;
  phase: string;
}
interface PairingJson {
  id: string;
  direction: 'in' | 'out';
  peer: { id: string; name: string };
  code: string | null;
  state: string;
}

/** Fresh attacker keys; `dispose()` removes them all. */
async function identities(n: number): Promise<{ list: Identity[]; dispose: () => Promise<void> }> {
  const made = await Promise.all(Array.from({ length: n }, () => hostileIdentity()));
  return { list: made.map((m) => m.identity), dispose: async () => void (await Promise.all(made.map((m) => m.dispose()))) };
}

/** Sends PINGs every 200 ms on each client until stopped: the heartbeats of a peer that is "alive". */
function keepPinging(clients: HostileClient[]): () => void {
  const timer = setInterval(() => {
    for (const c of clients) if (!c.isClosed) c.ping();
  }, 200);
  return () => clearInterval(timer);
}

describe('hostile gate: strangers cannot hold the incoming slots, pairings expire, withdrawn offers go', { timeout: 120_000 }, () => {
  describe('with accept: "ask", an 8 s offer deadline and trusted bob', () => {
    // Long enough that a loaded machine still gets every stranger connected and bob through first.
    const OFFER_TIMEOUT_S = 8;
    let fx: HostileFixture;
    let bob: { identity: Identity; dispose: () => Promise<void> };

    before(async () => {
      fx = await HostileFixture.start({
        name: 'gate',
        accept: 'ask',
        limits: { offerTimeoutSeconds: OFFER_TIMEOUT_S, handshakeTimeoutSeconds: 2, idleTimeoutSeconds: 5 },
      });
      bob = await hostileIdentity();
      const trust = await fx.daemon.cli(['trust', bob.identity.id]);
      assert.equal(trust.code, 0, trust.stderr);
    });

    after(async () => {
      await fx?.dispose();
      await bob?.dispose();
    });

    it('hostile: 8 strangers stalling multi-frame offers with heartbeats: trusted bob gets in at once, the stalled ones show in status and go at the offer deadline', async () => {
      const before = await fx.snapshot();
      const keys = await identities(8);
      const strangers: HostileClient[] = [];
      let stopPinging = (): void => undefined;
      try {
        const started = Date.now();
        strangers.push(...(await Promise.all(keys.list.map((identity) => HostileClient.connect(fx.target, identity)))));
        const entries = Array.from({ length: 40 }, (_, i) => fileEntry(`stall${fx.marker}-${i}.txt`, 10));
        // An offer with more entries to come, which never come.
        for (const c of strangers) c.hello({ name: 'stranger' }).offer(entries, { maxPayload: 400, partial: true });
        stopPinging = keepPinging(strangers);
        await Promise.all(strangers.map((c) => c.flushed()));
        await sleep(300);

        // Bob, trusted, is not kept out: his file lands now, long before the deadline.
        const bobStarted = Date.now();
        const name = await goodTransfer(fx.target, bob.identity, fx.inbox);
        const bobMs = Date.now() - bobStarted;
        assert.ok(bobMs < 5000, `bob waited ${bobMs} ms`);

        // Strangers beyond the per-address bound were refused at once; the rest are still held,
        // and every one held shows in `status --json` as an inbound connection reading its offer.
        const held = strangers.filter((c) => !c.events.some((e) => e.type === 'error'));
        const refused = strangers.filter((c) => c.events.some((e) => e.type === 'error' && e.code === 'PEER_BUSY'));
        assert.equal(held.length + refused.length, strangers.length, strangers.map((c) => c.describe()).join(' '));
        assert.ok(held.length >= 1, 'some strangers are held until the deadline');
        const { inbound } = await fx.daemon.json<{ inbound: InboundJson[] }>(['status']);
        const ids = new Set(keys.list.map((k) => k.id));
        const listed = inbound.filter((c) => ids.has(c.peer.id));
        assert.equal(listed.length, held.length, JSON.stringify(inbound));
        for (const c of listed) {
          assert.equal(c.phase, 'offer');
          assert.equal(c.protocol, 'p2pd');
          assert.match(c.address, /127\.0\.0\.1/);
          assert.ok(Date.parse(c.since) >= started - 1000);
        }
        // None of them is an offer waiting for a person: their offers never completed.
        const { offers } = await fx.daemon.json<{ offers: unknown[] }>(['incoming']);
        assert.deepEqual(offers, []);

        // At the offer deadline, heartbeats notwithstanding, each held stranger is told TIMEOUT and dropped.
        for (const c of held) {
          const error = await c.error(OFFER_TIMEOUT_S * 1000 + 4000);
          assert.equal(error.code, 'TIMEOUT');
          await c.closed(3000);
        }
        const tookMs = Date.now() - started;
        assert.ok(tookMs < OFFER_TIMEOUT_S * 1000 + 4000, `the stalled offers were held ${tookMs} ms`);
        await waitFor(
          async () => (await fx.daemon.json<{ inbound: InboundJson[] }>(['status'])).inbound.every((c) => !ids.has(c.peer.id)),
          3000,
          'the stalled connections to leave `status`',
        );
        await fx.checkAfter(before, { newInInbox: [name], skipGoodTransfer: true });
      } finally {
        stopPinging();
        for (const c of strangers) c.destroy();
        await keys.dispose();
      }
    });

    it('an offer the sender cancels, or whose connection ends, leaves `incoming` at once; accept on it is OFFER_NOT_FOUND saying so', async () => {
      for (const how of ['cancel', 'hang-up'] as const) {
        const client = await fx.connect();
        try {
          client.hello().offer([fileEntry(`withdrawn${fx.marker}-${how}.txt`, 5)]);
          let id = '';
          await waitFor(
            async () => {
              const { offers } = await fx.daemon.json<{ offers: Array<{ id: string }> }>(['incoming']);
              id = offers[0]?.id ?? '';
              return id !== '';
            },
            5000,
            'the offer to wait for a person',
          );
          if (how === 'cancel') client.sendError('TRANSFER_CANCELLED', 'cancelled by the user');
          else client.destroy();
          await waitFor(
            async () => (await fx.daemon.json<{ offers: unknown[] }>(['incoming'])).offers.length === 0,
            2000,
            `the ${how} offer to leave \`incoming\``,
          );
          const accept = await fx.daemon.cli(['accept', id, '--json']);
          assert.notEqual(accept.code, 0, accept.stdout);
          const out = accept.stdout + accept.stderr;
          assert.match(out, /OFFER_NOT_FOUND/);
          assert.match(out, /cancelled|connection ended/);
          const { transfers } = await fx.daemon.json<{ transfers: Array<{ id: string; state: string }> }>(['status']);
          assert.notEqual(transfers.find((t) => t.id === id)?.state, 'waiting');
        } finally {
          client.destroy();
        }
      }
    });
  });

  describe('pairing requests that never reveal, under accept: "trusted"', () => {
    let alice: TestDaemon;
    let bobD: TestDaemon;
    const tag = process.pid.toString(36);

    before(async () => {
      alice = await TestDaemon.create({
        name: `alice-${tag}`,
        extra: { askTimeoutSeconds: 60, limits: { handshakeTimeoutSeconds: 10, connectionsPerMinute: 100_000 } },
      });
      bobD = await TestDaemon.create({ name: `bob-${tag}` });
      await Promise.all([alice.start(), bobD.start()]);
      await alice.waitForPeer(bobD.name);
    });

    after(async () => {
      await Promise.all([alice?.destroy(), bobD?.destroy()]);
    });

    it('hostile: 8 fresh keys commit and never reveal: the user can reject them, they expire, and `p2pd pair bob` is not kept out', async () => {
      const keys = await identities(8);
      const target = await targetOf(alice);
      const clients: HostileClient[] = [];
      let stopPinging = (): void => undefined;
      const child = { kill: (): void => undefined } as { kill: () => void };
      try {
        clients.push(...(await Promise.all(keys.list.map((identity) => HostileClient.connect(target, identity)))));
        for (const c of clients) c.hello({ name: 'pairme' }).pairCommit();
        stopPinging = keepPinging(clients);
        await sleep(300);
        const ids = new Set(keys.list.map((k) => k.id));
        const listed = (await alice.json<{ pairings: PairingJson[] }>(['pair', '--list'])).pairings.filter((p) => ids.has(p.peer.id));
        assert.ok(
          listed.length >= 1 && listed.length <= 2,
          `one address has at most two requests waiting: ${JSON.stringify(listed)}; ${clients.map((c) => c.describe()).join(' ')}`,
        );
        const busy = clients.filter((c) => c.events.some((e) => e.type === 'error' && e.code === 'PEER_BUSY'));
        assert.equal(busy.length, 8 - listed.length);

        // Any entry listed can be rejected, even before it has a code.
        const first = listed[0]!;
        const reject = await alice.cli(['pair', '--reject', first.id]);
        assert.equal(reject.code, 0, reject.stderr + reject.stdout);
        const after1 = (await alice.json<{ pairings: PairingJson[] }>(['pair', '--list'])).pairings;
        assert.equal(
          after1.some((p) => p.id === first.id),
          false,
        );

        // The user's own pairing starts: no PEER_BUSY, its entry is listed.
        const pair = spawn(process.execPath, [MAIN, 'pair', bobD.name, '--config', alice.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
        child.kill = () => pair.kill();
        let stderr = '';
        pair.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        await waitFor(
          async () => (await alice.json<{ pairings: PairingJson[] }>(['pair', '--list'])).pairings.some((p) => p.direction === 'out'),
          10_000,
          `alice's own pairing to be listed (stderr: ${stderr})`,
        );
        assert.doesNotMatch(stderr, /PEER_BUSY/);

        // The rest expire at the step deadline (the handshake timeout, 10 s) and are told TIMEOUT.
        for (const p of listed.slice(1)) {
          const c = clients.find((x) => keys.list[clients.indexOf(x)]!.id === p.peer.id)!;
          const error = await c.error(15_000);
          assert.equal(error.code, 'TIMEOUT');
        }
        await waitFor(
          async () => (await alice.json<{ pairings: PairingJson[] }>(['pair', '--list'])).pairings.every((p) => !ids.has(p.peer.id)),
          15_000,
          'the stalled pairing requests to expire',
        );
        const own = (await alice.json<{ pairings: PairingJson[] }>(['pair', '--list'])).pairings.find((p) => p.direction === 'out');
        if (own !== undefined) await alice.cli(['pair', '--reject', own.id]);
      } finally {
        child.kill();
        stopPinging();
        for (const c of clients) c.destroy();
        await keys.dispose();
      }
    });
  });
});
