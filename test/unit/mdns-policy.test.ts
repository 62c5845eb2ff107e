/**
 * The RFC 6762 sending policy (src/discovery/mdns-policy.ts) on a fake clock: answer delays and
 * suppression, query backoff and duplicate suppression, and a simulated LAN of many daemons that
 * checks how fast they find each other and that idle traffic grows with N, not N²; and how a
 * response packet is read into services (mdns.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import {
  MdnsQuerier,
  MdnsResponder,
  SERVICE_DOMAIN,
  TRUNCATED,
  nameWireLength,
  splitQuery,
  type Clock,
  type MdnsPacket,
  type MdnsRecord,
  type OwnRecords,
} from '../../src/discovery/mdns-policy.js';
import { servicesIn } from '../../src/discovery/mdns.js';

class FakeClock implements Clock {
  t = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  readonly #rand: () => number;
  constructor(seed = 1) {
    let s = seed;
    this.#rand = () => {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      return s / 2 ** 31;
    };
  }
  now(): number {
    return this.t;
  }
  random(): number {
    return this.#rand();
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.#timers.delete(h as number);
  }
  /** Runs every timer due up to now + ms, in time order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#timers) if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

/** One multicast segment: every packet reaches every socket, the sender's too (loopback). */
class Bus {
  readonly sockets: FakeSocket[] = [];
  packets = 0;
  queries = 0;
  constructor(readonly clock: FakeClock) {}
  send(kind: 'query' | 'response', packet: MdnsPacket, from: FakeSocket): void {
    this.packets++;
    if (kind === 'query') this.queries++;
    // Delivered a millisecond later, as decoded copies.
    this.clock.setTimeout(() => {
      for (const s of this.sockets) s.emit(kind, structuredClone(packet), { address: from.address, port: 5353 });
    }, 1);
  }
}

class FakeSocket extends EventEmitter {
  readonly sent: Array<{ kind: 'query' | 'response'; packet: MdnsPacket; at: number }> = [];
  constructor(
    readonly address: string,
    readonly clock: FakeClock,
    readonly bus?: Bus,
  ) {
    super();
    bus?.sockets.push(this);
  }
  query(packet: MdnsPacket): void {
    this.sent.push({ kind: 'query', packet, at: this.clock.now() });
    this.bus?.send('query', packet, this);
  }
  respond(packet: MdnsPacket, cb?: () => void): void {
    this.sent.push({ kind: 'response', packet, at: this.clock.now() });
    this.bus?.send('response', packet, this);
    cb?.();
  }
}

function own(name: string, ttl = 120): OwnRecords {
  const instance = `${name}#AAAAAAA.${SERVICE_DOMAIN}`;
  return {
    ptr: { name: SERVICE_DOMAIN, type: 'PTR', ttl, data: instance },
    rest: [{ name: instance, type: 'SRV', ttl, data: { port: 1, target: `${name}.local` } }],
  };
}

const question = { name: SERVICE_DOMAIN, type: 'PTR' };
const from = { address: '198.51.100.9', port: 5353 };

describe('mDNS responder', () => {
  it('answers a query after 20-120 ms with its PTR and the records that go with it', () => {
    const clock = new FakeClock();
    const socket = new FakeSocket('a', clock);
    const r = new MdnsResponder({ socket, clock }, { records: own('a') });
    r.onQuery({ questions: [question] }, from);
    clock.advance(19);
    assert.equal(socket.sent.length, 0);
    clock.advance(101);
    assert.equal(socket.sent.length, 1);
    assert.equal(socket.sent[0]!.packet.answers![0]!.type, 'PTR');
    assert.equal(socket.sent[0]!.packet.additionals![0]!.type, 'SRV');
  });

  it('stays silent when the query already knows its record with half its TTL left, answers when less is left', () => {
    const clock = new FakeClock();
    const socket = new FakeSocket('a', clock);
    const records = own('a');
    const r = new MdnsResponder({ socket, clock }, { records });
    r.onQuery({ questions: [question], answers: [{ ...records.ptr, ttl: 60 }] }, from);
    clock.advance(2000);
    assert.equal(socket.sent.length, 0);
    r.onQuery({ questions: [question], answers: [{ ...records.ptr, ttl: 59 }] }, from);
    clock.advance(2000);
    assert.equal(socket.sent.length, 1);
  });

  it('answers many queries at once with one packet, and never twice within a second', () => {
    const clock = new FakeClock();
    const socket = new FakeSocket('a', clock);
    const r = new MdnsResponder({ socket, clock }, { records: own('a') });
    for (let i = 0; i < 30; i++) r.onQuery({ questions: [question] }, { address: `198.51.100.${10 + i}`, port: 5353 });
    clock.advance(200);
    assert.equal(socket.sent.length, 1);
    r.onQuery({ questions: [question] }, from);
    clock.advance(500);
    assert.equal(socket.sent.length, 1, 'not again within a second');
    clock.advance(600);
    assert.equal(socket.sent.length, 2);
    assert.ok(socket.sent[1]!.at - socket.sent[0]!.at >= 1000);
  });

  it('waits for the rest of a truncated query and honours the known answers in it', () => {
    const clock = new FakeClock();
    const socket = new FakeSocket('a', clock);
    const records = own('a');
    const r = new MdnsResponder({ socket, clock }, { records });
    r.onQuery({ flags: TRUNCATED, questions: [question], answers: [] }, from);
    clock.advance(100);
    r.onQuery({ questions: [], answers: [records.ptr] }, from);
    clock.advance(2000);
    assert.equal(socket.sent.length, 0);
  });

  it('ignores questions about other names; announces three times; says goodbye with TTL 0', () => {
    const clock = new FakeClock();
    const socket = new FakeSocket('a', clock);
    const r = new MdnsResponder({ socket, clock }, { records: own('a') });
    r.onQuery({ questions: [{ name: '_other._tcp.local', type: 'PTR' }] }, from);
    clock.advance(1000);
    assert.equal(socket.sent.length, 0);
    r.announce();
    clock.advance(10_000);
    assert.deepEqual(
      socket.sent.map((s) => Math.round(s.at / 1000)),
      [1, 2, 4],
    );
    r.goodbye(() => {});
    assert.ok(socket.sent.at(-1)!.packet.answers!.every((a) => a.ttl === 0));
  });
});

describe('mDNS querier', () => {
  const self: MdnsRecord = { name: SERVICE_DOMAIN, type: 'PTR', ttl: 120, data: `me#AAAAAAA.${SERVICE_DOMAIN}` };

  it('queries at once, then at 1, 2, 4 … seconds up to the longest interval', () => {
    const clock = new FakeClock();
    const socket = new FakeSocket('a', clock);
    const q = new MdnsQuerier({ socket, clock }, { maxIntervalMs: 30_000, expireMs: 100_000, self });
    q.start();
    clock.advance(300_000);
    const at = socket.sent.map((s) => s.at);
    assert.ok(at[0]! <= 120);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    for (const [i, g] of gaps.slice(0, 4).entries()) assert.ok(Math.abs(g - 1000 * 2 ** i) <= 0.1 * 1000 * 2 ** i, `gap ${i}: ${g}`);
    assert.ok(
      gaps.slice(5).every((g) => g >= 27_000 && g <= 33_000),
      gaps.join(' '),
    );
    q.stop();
  });

  it('lists itself and the peers heard recently as known answers, not the old ones', () => {
    const clock = new FakeClock();
    const socket = new FakeSocket('a', clock);
    const q = new MdnsQuerier({ socket, clock }, { maxIntervalMs: 30_000, expireMs: 100_000, self });
    q.heard(`b#BBBBBBB.${SERVICE_DOMAIN}`, 120);
    clock.advance(20_000);
    q.heard(`c#CCCCCCC.${SERVICE_DOMAIN}`, 120);
    clock.advance(20_000);
    // b is 40 s old: past (100 - 30) / 2 = 35 s, so it is asked about again; c is 20 s old.
    assert.deepEqual(
      q.knownAnswers().map((r) => [String(r.data).slice(0, 1), r.ttl]),
      [
        ['m', 120],
        ['c', 100],
      ],
    );
    q.heard(`c#CCCCCCC.${SERVICE_DOMAIN}`, 0);
    assert.equal(q.knownAnswers().length, 1);
  });

  it('skips its query when another host asked with no known answer it lacks', () => {
    const clock = new FakeClock();
    const socket = new FakeSocket('a', clock);
    const q = new MdnsQuerier({ socket, clock }, { maxIntervalMs: 30_000, expireMs: 100_000, self });
    const b = `b#BBBBBBB.${SERVICE_DOMAIN}`;
    q.heard(b, 120);
    q.start();
    clock.advance(200);
    assert.equal(q.queriesSent, 1);
    // Someone asks before our next query (due at about 1 s): ours moves on.
    clock.advance(600);
    q.onQuery({ questions: [question], answers: [{ name: SERVICE_DOMAIN, type: 'PTR', ttl: 100, data: b }] }, from);
    clock.advance(600);
    assert.equal(q.queriesSent, 1);
    // One that lists a peer we do not know does not: it would keep that peer from answering us.
    clock.advance(500);
    q.onQuery({ questions: [question], answers: [{ name: SERVICE_DOMAIN, type: 'PTR', ttl: 100, data: `x#XXXXXXX.${SERVICE_DOMAIN}` }] }, from);
    clock.advance(1500);
    assert.equal(q.queriesSent, 2);
    q.stop();
  });

  it('spreads a long known-answer list over packets with TC set on all but the last', () => {
    const known: MdnsRecord[] = Array.from({ length: 500 }, (_, i) => ({
      name: SERVICE_DOMAIN,
      type: 'PTR',
      ttl: 100,
      data: `peer-${i}#ABCDEFG.${SERVICE_DOMAIN}`,
    }));
    const packets = splitQuery(question, known);
    assert.ok(packets.length > 10);
    assert.equal(packets[0]!.questions!.length, 1);
    assert.ok(packets.slice(1).every((p) => p.questions!.length === 0));
    assert.ok(packets.slice(0, -1).every((p) => p.flags === TRUNCATED));
    assert.equal(packets.at(-1)!.flags, undefined);
    assert.equal(packets.flatMap((p) => p.answers).length, 500);
    for (const p of packets) {
      const size =
        12 +
        (p.questions!.length ? nameWireLength(SERVICE_DOMAIN) + 4 : 0) +
        p.answers!.reduce((n, r) => n + nameWireLength(r.name) + 10 + nameWireLength(String(r.data)), 0);
      assert.ok(size <= 1400, `packet of ${size} bytes`);
    }
  });
});

/** N daemons started `spreadMs` apart on one segment; returns when all knew all and idle packet rates. */
function simulate(
  n: number,
  options: { maxIntervalMs: number; expireMs: number; spreadMs: number },
): { allSeeAllMs: number; idlePerSecond: number; idleQueriesPerSecond: number } {
  const clock = new FakeClock(n);
  const bus = new Bus(clock);
  const known: Array<Set<string>> = [];
  const names = Array.from({ length: n }, (_, i) => `h${i}#AAAAAAA.${SERVICE_DOMAIN}`);
  for (let i = 0; i < n; i++) {
    clock.setTimeout(() => {
      const socket = new FakeSocket(`h${i}`, clock, bus);
      const records = own(`h${i}`);
      const responder = new MdnsResponder({ socket, clock }, { records });
      const querier = new MdnsQuerier({ socket, clock }, { maxIntervalMs: options.maxIntervalMs, expireMs: options.expireMs, self: records.ptr });
      const seen = new Set<string>();
      const lastHeard = new Map<string, number>();
      known[i] = seen;
      socket.on('query', (p: MdnsPacket, rinfo: { address: string; port: number }) => {
        responder.onQuery(p, rinfo);
        querier.onQuery(p, rinfo);
      });
      socket.on('response', (p: MdnsPacket) => {
        for (const a of p.answers ?? []) {
          if (a.type !== 'PTR' || a.data === records.ptr.data) continue;
          // A peer not heard for expireMs would have been dropped: the policy must prevent that.
          const last = lastHeard.get(String(a.data));
          if (last !== undefined) assert.ok(clock.now() - last < options.expireMs, `${String(a.data)} unheard for ${clock.now() - last} ms`);
          lastHeard.set(String(a.data), clock.now());
          seen.add(String(a.data));
          querier.heard(String(a.data), a.ttl);
        }
      });
      responder.announce();
      querier.start();
    }, i * options.spreadMs);
  }
  let allSeeAllMs = -1;
  while (allSeeAllMs < 0 && clock.now() < 120_000) {
    clock.advance(100);
    if (known.length === n && known.every((s) => s.size === n - 1)) allSeeAllMs = clock.now() - (n - 1) * options.spreadMs;
  }
  clock.advance(600_000);
  const [p0, q0] = [bus.packets, bus.queries];
  clock.advance(600_000);
  assert.ok(names.length === n);
  return { allSeeAllMs, idlePerSecond: (bus.packets - p0) / 600, idleQueriesPerSecond: (bus.queries - q0) / 600 };
}

describe('a simulated LAN', () => {
  it('50 daemons find each other within seconds; idle traffic grows with N, not N squared', () => {
    const opts = { maxIntervalMs: 30_000, expireMs: 100_000, spreadMs: 200 };
    const small = simulate(10, opts);
    const big = simulate(50, opts);
    assert.ok(big.allSeeAllMs >= 0 && big.allSeeAllMs <= 3000, `all saw all after ${big.allSeeAllMs} ms`);
    // Each peer answers about once per (expire - interval) / 2 plus one interval (35-65 s here),
    // and the LAN asks about once or twice per interval (3 packets for 50 known answers):
    // measured 1.07 packets/s for 50 daemons, 0.24 for 10.
    assert.ok(big.idlePerSecond <= 50 / 35 + 0.5, `50 daemons idle: ${big.idlePerSecond} packets/s`);
    assert.ok(big.idlePerSecond <= 6 * small.idlePerSecond, `10 → 50 daemons: ${small.idlePerSecond} → ${big.idlePerSecond} packets/s`);
    assert.ok(big.idleQueriesPerSecond <= 0.3, `query packets: ${big.idleQueriesPerSecond}/s`);
  });

  it('with the test settings (query every second, expire after 5 s) nobody expires', () => {
    const r = simulate(20, { maxIntervalMs: 1000, expireMs: 5000, spreadMs: 50 });
    assert.ok(r.allSeeAllMs >= 0 && r.allSeeAllMs <= 3000, `all saw all after ${r.allSeeAllMs} ms`);
  });
});

describe('reading a response', () => {
  const id = 'A'.repeat(52);
  const instance = `bob#AAAAAAA.${SERVICE_DOMAIN}`;
  const packet = (ttl: number): MdnsPacket => ({
    answers: [{ name: SERVICE_DOMAIN, type: 'PTR', ttl, data: instance }],
    additionals: [
      { name: instance, type: 'SRV', ttl, data: { port: 4545, target: 'bob-aaaaaaa.local' } },
      { name: instance, type: 'TXT', ttl, data: [Buffer.from(`id=${id}`), Buffer.from('v=1'), Buffer.from('n=bob'), Buffer.from('junk')] },
      { name: 'BOB-aaaaaaa.local', type: 'A', ttl, data: '198.51.100.20' },
      { name: 'other.local', type: 'A', ttl, data: '198.51.100.99' },
    ],
  });

  it('puts PTR, SRV, TXT and the A records of the SRV target together (names without regard to case)', () => {
    const [found, ...more] = servicesIn(packet(120), { address: '198.51.100.20', port: 5353 });
    assert.equal(more.length, 0);
    assert.equal(found!.instance, instance);
    assert.equal(found!.ttl, 120);
    const s = found!.service as unknown as { name: string; port: number; txt: Record<string, string>; addresses: string[] };
    assert.equal(s.name, 'bob#AAAAAAA');
    assert.equal(s.port, 4545);
    assert.deepEqual(s.txt, { id, v: '1', n: 'bob' });
    assert.deepEqual(s.addresses, ['198.51.100.20']);
  });

  it('a goodbye keeps TTL 0; PTRs of other services are not ours', () => {
    assert.equal(servicesIn(packet(0), { address: '198.51.100.20', port: 5353 })[0]!.ttl, 0);
    assert.deepEqual(
      servicesIn({ answers: [{ name: '_other._tcp.local', type: 'PTR', ttl: 120, data: `x._other._tcp.local` }] }, { address: '198.51.100.20', port: 5353 }),
      [],
    );
  });

  it('keeps at most 1024 known answers of a query that goes on and on', () => {
    const clock = new FakeClock();
    const socket = new FakeSocket('a', clock);
    const records = own('a');
    const r = new MdnsResponder({ socket, clock }, { records });
    r.onQuery({ flags: TRUNCATED, questions: [question], answers: [] }, from);
    const filler = { name: SERVICE_DOMAIN, type: 'PTR', ttl: 120, data: `x.${SERVICE_DOMAIN}` };
    for (let i = 0; i < 20; i++) r.onQuery({ flags: TRUNCATED, questions: [], answers: Array.from({ length: 100 }, () => filler) }, from);
    // Our own record arrives after the cap: not seen, so the responder answers.
    r.onQuery({ questions: [], answers: [records.ptr] }, from);
    clock.advance(2000);
    assert.equal(socket.sent.length, 1);
  });
});
