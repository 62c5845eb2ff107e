/**
 * The `watch` event log (sequence numbers, the ring, resuming, resets) and the daemon's wiring of
 * it (daemon/events.ts) over fake sources: snapshot, live events, resume after a reconnect.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { silentLogger } from '../../src/log.js';
import { EventLog, type CallContext, type WatchParams } from '../../src/control/index.js';
import { DaemonEvents, type EventSources } from '../../src/daemon/events.js';
import type { OutboxItemRecord, PairingRecord, PendingOfferRecord, TransferRecord } from '../../src/daemon/views.js';
import type { PeerView } from '../../src/control/views.js';

describe('event log', () => {
  it('numbers events from 1 and gives the ones after a seq', () => {
    const log = new EventLog({ capacity: 4, epoch: 'e1' });
    assert.equal(log.seq, 0);
    assert.deepEqual(log.after(0), []);
    for (let i = 0; i < 3; i++) log.publish('peer-gone', { id: `p${i}` });
    assert.equal(log.seq, 3);
    const after1 = log.after(1);
    assert.ok(Array.isArray(after1));
    assert.deepEqual(
      after1.map((e) => [e.seq, e.type, e.data]),
      [
        [2, 'peer-gone', { id: 'p1' }],
        [3, 'peer-gone', { id: 'p2' }],
      ],
    );
    assert.deepEqual(log.after(3), []);
  });

  it('keeps only the last `capacity` events and says when a seq is too old or ahead', () => {
    const log = new EventLog({ capacity: 4 });
    for (let i = 1; i <= 10; i++) log.publish('peer-gone', { id: String(i) });
    const kept = log.after(6);
    assert.ok(Array.isArray(kept));
    assert.deepEqual(
      kept.map((e) => e.seq),
      [7, 8, 9, 10],
    );
    assert.deepEqual(log.after(5), { reset: 'too-old' });
    assert.deepEqual(log.after(0), { reset: 'too-old' });
    assert.deepEqual(log.after(11), { reset: 'ahead' });
  });

  it('tells subscribers every event in order until they unsubscribe', () => {
    const log = new EventLog();
    const got: number[] = [];
    const off = log.subscribe((e) => got.push(e.seq));
    log.publish('peer-gone', { id: 'a' });
    log.publish('peer-gone', { id: 'b' });
    off();
    log.publish('peer-gone', { id: 'c' });
    assert.deepEqual(got, [1, 2]);
    assert.equal(log.subscribers, 0);
  });

  it('has a different epoch per instance', () => {
    assert.notEqual(new EventLog().epoch, new EventLog().epoch);
  });
});

// ── the daemon's wiring, over fakes ────────────────────────────────────────────────────────────

function transfer(id: string, state: TransferRecord['state'], bytesDone = 0): TransferRecord {
  return {
    id,
    direction: 'out',
    peer: { id: null, name: 'bob' },
    state,
    filesTotal: 1,
    filesDone: 0,
    filesFailed: 0,
    bytesTotal: 100,
    bytesDone,
    bytesPerSecond: 0,
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: null,
    error: null,
    attempts: 1,
    resumedFrom: 0,
    nextAttemptAt: null,
    files: [{ index: 0, path: 'a', ok: true }],
  };
}

function peer(id: string, trusted = false): PeerView {
  return {
    id,
    shortId: id.slice(0, 7),
    name: id,
    displayName: id,
    addresses: [],
    trusted,
    trustedName: trusted ? id : null,
    online: true,
    lastSeen: null,
    impersonates: null,
  };
}

function outboxItem(path: string, state: OutboxItemRecord['state']): OutboxItemRecord {
  return { peer: path.split('/')[0]!, path, kind: 'file', bytes: 1, state, attempts: 0, lastError: null, transferId: null, since: '2026-01-01T00:00:00.000Z' };
}

function fakeSources() {
  const peersTable = new EventEmitter();
  const manager = new EventEmitter() as EventEmitter & { list(): TransferRecord[] };
  const world = {
    peers: [] as PeerView[],
    transfers: [] as TransferRecord[],
    outbox: [] as OutboxItemRecord[],
    offers: [] as PendingOfferRecord[],
    pairings: [] as PairingRecord[],
  };
  manager.list = () => world.transfers;
  const sources: EventSources = {
    peers: peersTable as unknown as EventSources['peers'],
    peerViews: () => world.peers,
    transfers: manager as unknown as EventSources['transfers'],
    outbox: () => world.outbox,
    offers: () => world.offers,
    pairings: () => world.pairings,
  };
  return { sources, world, peersTable, manager };
}

/** A watch call with its own hang-up, collecting what it streams. */
function watcher(events: DaemonEvents, params: WatchParams) {
  const hangup = new AbortController();
  const got: Array<{ event: string; data: Record<string, unknown> }> = [];
  const ctx = {
    signal: hangup.signal,
    emit: (event: string, data: unknown) => got.push({ event, data: data as Record<string, unknown> }),
    caller: { transport: 'test' },
  } as unknown as CallContext<'watch'>;
  const done = events.watch(params, ctx);
  return { got, done, hangup: () => hangup.abort() };
}

describe('daemon events and the watch method', () => {
  it('starts with a snapshot, then streams transfers, peers and outbox items with rising seq', async () => {
    const { sources, world, peersTable, manager } = fakeSources();
    world.peers = [peer('ALICE')];
    world.outbox = [outboxItem('bob/a.txt', 'settling')];
    const events = new DaemonEvents({ logger: silentLogger(), sources }, { pollMs: 60_000 });
    events.start();
    try {
      const w = watcher(events, {});
      assert.equal(w.got[0]!.event, 'snapshot');
      const snap = w.got[0]!.data;
      assert.equal(snap.seq, 0);
      assert.equal(snap.epoch, events.log.epoch);
      assert.deepEqual(
        (snap.peers as PeerView[]).map((p) => p.id),
        ['ALICE'],
      );
      assert.equal((snap.outbox as unknown[]).length, 1);

      manager.emit('update', transfer('t1', 'sending', 50));
      manager.emit('end', transfer('t1', 'done', 100));
      world.peers = [peer('ALICE'), peer('BOB')];
      peersTable.emit('up');
      peersTable.emit('up'); // coalesced: one comparison, one event
      await new Promise((r) => setTimeout(r, 150));
      events.peersChanged(); // nothing changed in peers since: no event

      const names = w.got.slice(1).map((g) => g.event);
      assert.deepEqual(names, ['transfer', 'transfer-end', 'peer']);
      const seqs = w.got.slice(1).map((g) => g.data.seq as number);
      assert.deepEqual(seqs, [1, 2, 3]);
      const end = w.got[2]!.data.transfer as TransferRecord;
      assert.equal(end.state, 'done');
      assert.equal(end.files, undefined, 'events carry no per-file list');
      assert.equal((w.got[3]!.data.peer as PeerView).id, 'BOB');
      w.hangup();
      assert.equal(await w.done, null);
      assert.equal(events.log.subscribers, 0);
    } finally {
      await events.stop();
    }
  });

  it('polls the outbox and publishes items that change or go', async () => {
    const { sources, world } = fakeSources();
    world.outbox = [outboxItem('bob/a.txt', 'settling')];
    const events = new DaemonEvents({ logger: silentLogger(), sources }, { pollMs: 20 });
    events.start();
    try {
      const w = watcher(events, { since: 0 });
      world.outbox = [outboxItem('bob/a.txt', 'sending'), outboxItem('carol/b', 'queued')];
      await waitFor(() => w.got.length >= 2);
      world.outbox = [outboxItem('carol/b', 'queued')];
      await waitFor(() => w.got.length >= 3);
      await new Promise((r) => setTimeout(r, 60));
      assert.deepEqual(
        w.got.map((g) => [g.event, (g.data.item as OutboxItemRecord | undefined)?.path ?? g.data.path]),
        [
          ['outbox-item', 'bob/a.txt'],
          ['outbox-item', 'carol/b'],
          ['outbox-item-gone', 'bob/a.txt'],
        ],
      );
      assert.equal(w.got[2]!.data.peer, 'bob');
      w.hangup();
      await w.done;
    } finally {
      await events.stop();
    }
  });

  it('resumes after `since` without a snapshot, or resets when it cannot', async () => {
    const { sources, manager } = fakeSources();
    const events = new DaemonEvents({ logger: silentLogger(), sources }, { pollMs: 60_000, capacity: 3 });
    events.start();
    try {
      for (let i = 1; i <= 5; i++) manager.emit('update', transfer(`t${i}`, 'sending'));
      // Seen up to 3: gets 4 and 5, then live events.
      const ok = watcher(events, { since: 3, epoch: events.log.epoch });
      manager.emit('update', transfer('t6', 'sending'));
      assert.deepEqual(
        ok.got.map((g) => [g.event, g.data.seq]),
        [
          ['transfer', 4],
          ['transfer', 5],
          ['transfer', 6],
        ],
      );
      ok.hangup();
      // Seen up to 1, but the ring (3) starts at 4: reset, then a snapshot at the current seq.
      const old = watcher(events, { since: 1 });
      assert.deepEqual(
        old.got.map((g) => g.event),
        ['reset', 'snapshot'],
      );
      assert.deepEqual(old.got[0]!.data, { epoch: events.log.epoch, seq: 6, reason: 'too-old' });
      assert.equal(old.got[1]!.data.seq, 6);
      old.hangup();
      const other = watcher(events, { since: 6, epoch: 'another-run' });
      assert.equal(other.got[0]!.data.reason, 'other-epoch');
      other.hangup();
      const ahead = watcher(events, { since: 99 });
      assert.equal(ahead.got[0]!.data.reason, 'ahead');
      ahead.hangup();
      await Promise.all([ok.done, old.done, other.done, ahead.done]);
    } finally {
      await events.stop();
    }
  });

  it('publishes offers and pairings once, from events or from the poll', async () => {
    const { sources, world } = fakeSources();
    const events = new DaemonEvents({ logger: silentLogger(), sources }, { pollMs: 20 });
    events.start();
    try {
      const w = watcher(events, { since: 0 });
      const offer: PendingOfferRecord = {
        id: 'o1',
        peer: { id: 'ALICE', name: 'alice', trusted: false },
        files: 1,
        bytes: 2,
        names: ['x'],
        receivedAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2026-01-01T00:05:00.000Z',
      };
      world.offers = [offer];
      events.publishOffer(offer);
      const pairing: PairingRecord = {
        id: 'p1',
        direction: 'in',
        peer: { id: 'ALICE', name: 'alice' },
        code: null,
        state: 'connecting',
        createdAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2026-01-01T00:05:00.000Z',
      };
      world.pairings = [pairing];
      await waitFor(() => w.got.length >= 2);
      await new Promise((r) => setTimeout(r, 60));
      world.offers = [];
      events.publishOfferEnd('o1', 'accepted');
      world.pairings = [];
      await waitFor(() => w.got.length >= 4);
      await new Promise((r) => setTimeout(r, 60));
      assert.deepEqual(
        w.got.map((g) => [g.event, g.data.outcome ?? null]),
        [
          ['offer', null],
          ['pairing', null],
          ['offer-end', 'accepted'],
          ['pairing-end', 'unknown'],
        ],
      );
      w.hangup();
      await w.done;
    } finally {
      await events.stop();
    }
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
