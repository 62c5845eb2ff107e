/**
 * When to send mDNS packets, following RFC 6762, so that a LAN of many daemons stays quiet:
 *
 * - Querier (§5.2, §7.1, §7.2, §7.3): continuous querying with intervals that start at 1 s and
 *   double up to `maxIntervalMs`; every query carries the known answers (the peers heard recently
 *   enough), so only peers whose record is getting old answer; a known-answer list too long for
 *   one packet continues in further packets with the TC bit; a query this host was about to send
 *   is skipped when another host just asked the same question with no known answer this host
 *   lacks (duplicate question suppression). On a LAN where every cache is fed by the same
 *   multicast answers, one query per interval goes out for the whole LAN, not one per host.
 * - Responder (§6, §7.1, §8.3): three unsolicited announcements at start (0, 1 s, 3 s); an
 *   answer to a query waits 20–120 ms (the PTR record is shared) so answers to several queries
 *   are one packet; no answer when the query lists ours as a known answer with at least half its
 *   TTL left; never the same records multicast twice within one second; after a query with the
 *   TC bit, 400–500 ms for the rest of its known answers.
 *
 * Pure policy over a small socket interface and an injected clock, so tests drive it in memory.
 */
import type { EventEmitter } from 'node:events';

export const SERVICE_DOMAIN = '_p2pd._tcp.local';
/** dns-packet's TC flag. */
export const TRUNCATED = 1 << 9;
/** UDP payload budget for one packet (a 1500-byte Ethernet frame minus IP and UDP headers, with room). */
const PACKET_BUDGET = 1400;
const MIN_RECORD_INTERVAL_MS = 1000;
const ANNOUNCE_AT_MS = [0, 1000, 3000];
/** Known answers kept from one (multi-packet) query: twice the peer table's cap. */
const MAX_KNOWN_ANSWERS = 1024;

export interface MdnsRecord {
  name: string;
  type: string;
  ttl: number;
  data: unknown;
  flush?: boolean;
}

export interface MdnsQuestion {
  name: string;
  type: string;
}

export interface MdnsPacket {
  flags?: number;
  questions?: MdnsQuestion[];
  answers?: MdnsRecord[];
  additionals?: MdnsRecord[];
}

/** What the policy needs of a multicast-dns socket. */
export interface MdnsSocket extends Pick<EventEmitter, 'on' | 'removeListener'> {
  query(packet: MdnsPacket, cb?: (err?: unknown) => void): void;
  respond(packet: MdnsPacket, cb?: (err?: unknown) => void): void;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  random: () => Math.random(),
};

export function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Length of a name in DNS wire format, uncompressed (dns-packet does not compress). */
export function nameWireLength(name: string): number {
  return name.split('.').reduce((n, label) => (label === '' ? n : n + 1 + Buffer.byteLength(label)), 1);
}

/**
 * Puts a query whose known answers were spread over several packets (§7.2) back together: the
 * first packet has the question and the TC bit, the next ones only answers, the last no TC bit.
 * A query is complete at its last packet, or after 400–500 ms when the rest never comes.
 */
export class QueryAssembler {
  readonly #clock: Clock;
  readonly #onQuery: (packet: MdnsPacket) => void;
  readonly #held = new Map<string, { packet: MdnsPacket; timer: unknown }>();

  constructor(deps: { clock: Clock }, onQuery: (packet: MdnsPacket) => void) {
    this.#clock = deps.clock;
    this.#onQuery = onQuery;
  }

  push(packet: MdnsPacket, from: { address: string; port: number }): void {
    const key = `${from.address}:${from.port}`;
    const held = this.#held.get(key);
    const truncated = ((packet.flags ?? 0) & TRUNCATED) !== 0;
    if ((packet.questions ?? []).length === 0) {
      if (held === undefined) return;
      // Bounded: a stranger streaming continuation packets cannot grow one query without end.
      held.packet.answers!.push(...(packet.answers ?? []).slice(0, Math.max(0, MAX_KNOWN_ANSWERS - held.packet.answers!.length)));
      if (!truncated) this.#complete(key);
      return;
    }
    if (held !== undefined) this.#complete(key);
    if (!truncated) return this.#onQuery(packet);
    const copy: MdnsPacket = { questions: packet.questions ?? [], answers: [...(packet.answers ?? [])] };
    this.#held.set(key, { packet: copy, timer: this.#clock.setTimeout(() => this.#complete(key), 400 + this.#clock.random() * 100) });
  }

  clear(): void {
    for (const h of this.#held.values()) this.#clock.clearTimeout(h.timer);
    this.#held.clear();
  }

  #complete(key: string): void {
    const held = this.#held.get(key);
    if (held === undefined) return;
    this.#held.delete(key);
    this.#clock.clearTimeout(held.timer);
    this.#onQuery(held.packet);
  }
}

/** The records this daemon answers with: its PTR, and the SRV, TXT and A records that go with it. */
export interface OwnRecords {
  ptr: MdnsRecord;
  rest: MdnsRecord[];
}

export class MdnsResponder {
  readonly #socket: MdnsSocket;
  readonly #clock: Clock;
  readonly #records: OwnRecords;
  readonly #timers = new Set<unknown>();
  readonly #assembler: QueryAssembler;
  #lastMulticast = -Infinity;
  #pending: unknown;
  #stopped = false;

  constructor(deps: { socket: MdnsSocket; clock?: Clock }, options: { records: OwnRecords }) {
    this.#socket = deps.socket;
    this.#clock = deps.clock ?? realClock;
    this.#records = options.records;
    this.#assembler = new QueryAssembler({ clock: this.#clock }, (p) => this.#consider(p.questions ?? [], p.answers ?? []));
  }

  /** Announces (§8.3) at 0, 1 s and 3 s; the first after a short random wait, like an answer. */
  announce(): void {
    const first = 20 + this.#clock.random() * 100;
    for (const at of ANNOUNCE_AT_MS) this.#later(first + at, () => this.#send());
  }

  /** Handles one query packet from the network (its own ones too: they list this host as known). */
  onQuery(packet: MdnsPacket, from: { address: string; port: number }): void {
    if (!this.#stopped) this.#assembler.push(packet, from);
  }

  /** Goodbye (TTL 0) for every record, so peers drop this daemon at once. */
  goodbye(cb: () => void): void {
    this.stop();
    const zero = (r: MdnsRecord): MdnsRecord => ({ ...r, ttl: 0 });
    this.#socket.respond({ answers: [zero(this.#records.ptr), ...this.#records.rest.map(zero)] }, () => cb());
  }

  stop(): void {
    this.#stopped = true;
    this.#assembler.clear();
    for (const t of this.#timers) this.#clock.clearTimeout(t);
    this.#timers.clear();
    this.#pending = undefined;
  }

  #consider(questions: MdnsQuestion[], known: MdnsRecord[]): void {
    if (!questions.some((q) => this.#asks(q))) return;
    const { ptr } = this.#records;
    const suppressed = known.some((k) => k.type === 'PTR' && sameName(k.name, ptr.name) && sameName(String(k.data), String(ptr.data)) && k.ttl >= ptr.ttl / 2);
    if (suppressed || this.#pending !== undefined) return;
    const wait = Math.max(20 + this.#clock.random() * 100, this.#lastMulticast + MIN_RECORD_INTERVAL_MS - this.#clock.now());
    this.#pending = this.#later(wait, () => {
      this.#pending = undefined;
      this.#send();
    });
  }

  #asks(q: MdnsQuestion): boolean {
    const { ptr, rest } = this.#records;
    if (sameName(q.name, ptr.name)) return q.type === 'PTR' || q.type === 'ANY';
    return rest.some((r) => sameName(q.name, r.name) && (q.type === 'ANY' || q.type === r.type));
  }

  #send(): void {
    if (this.#stopped) return;
    // Never the same records twice within a second (§6): a later query is covered by this send.
    if (this.#clock.now() - this.#lastMulticast < MIN_RECORD_INTERVAL_MS) return;
    this.#lastMulticast = this.#clock.now();
    this.#socket.respond({ answers: [this.#records.ptr], additionals: this.#records.rest });
  }

  #later(ms: number, fn: () => void): unknown {
    const t = this.#clock.setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
    return t;
  }
}

/** A peer's PTR record as last heard, for known-answer lists. */
interface Heard {
  instance: string;
  ttl: number;
  at: number;
}

export interface QuerierOptions {
  /** Longest interval between queries (the `refreshSeconds` setting). */
  maxIntervalMs: number;
  /**
   * How long a peer stays listed without being heard (the `expireSeconds` setting): a peer is
   * left out of the known answers early enough that it answers again before that.
   */
  expireMs: number;
  /** This daemon's own PTR, always listed: it need not answer its own query. */
  self: MdnsRecord;
}

export class MdnsQuerier {
  readonly #socket: MdnsSocket;
  readonly #clock: Clock;
  readonly #opts: QuerierOptions;
  readonly #heard = new Map<string, Heard>();
  #interval = 1000;
  #timer: unknown;
  #stopped = true;
  #sent = 0;
  #lastSentAt = -Infinity;
  readonly #assembler: QueryAssembler;

  constructor(deps: { socket: MdnsSocket; clock?: Clock }, options: QuerierOptions) {
    this.#socket = deps.socket;
    this.#clock = deps.clock ?? realClock;
    this.#opts = options;
    this.#assembler = new QueryAssembler({ clock: this.#clock }, (p) => this.#onWholeQuery(p));
  }

  /** Queries sent so far (packets with a question; continuation packets not counted). */
  get queriesSent(): number {
    return this.#sent;
  }

  /** Starts continuous querying: the first query after 20–120 ms (§5.2), then 1 s, 2 s, 4 s … */
  start(): void {
    this.#stopped = false;
    this.#interval = 1000;
    this.#schedule(20 + this.#clock.random() * 100);
  }

  stop(): void {
    this.#stopped = true;
    this.#assembler.clear();
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Asks again now and restarts the backoff (a network change, or a user's explicit refresh). */
  refresh(): void {
    if (this.#stopped) return;
    this.#interval = 1000;
    this.#schedule(20 + this.#clock.random() * 100);
  }

  /** A peer's PTR record was heard and the peer kept (TTL 0: it said goodbye). */
  heard(instance: string, ttlSeconds: number): void {
    if (ttlSeconds <= 0) this.#heard.delete(instance.toLowerCase());
    else this.#heard.set(instance.toLowerCase(), { instance, ttl: ttlSeconds, at: this.#clock.now() });
  }

  /** The known answers a query would carry now (this daemon's own first). */
  knownAnswers(): MdnsRecord[] {
    const now = this.#clock.now();
    const out: MdnsRecord[] = [this.#opts.self];
    for (const [key, h] of this.#heard) {
      const age = now - h.at;
      if (age >= h.ttl * 1000) {
        this.#heard.delete(key);
        continue;
      }
      // Listed only while more than half its TTL is left (§7.1) and while leaving it out one
      // interval later still gets an answer before the peer would expire here.
      const freshMs = Math.min((h.ttl * 1000) / 2, Math.max(0, this.#opts.expireMs - this.#opts.maxIntervalMs) / 2);
      if (age < freshMs) out.push({ name: SERVICE_DOMAIN, type: 'PTR', ttl: Math.floor(h.ttl - age / 1000), data: h.instance });
    }
    return out;
  }

  /**
   * Another host's query (or this one's, looped back): if it asks our question and lists no known
   * answer that we would not list, the answers it draws serve us too, so our own waits (§7.3).
   */
  onQuery(packet: MdnsPacket, from: { address: string; port: number }): void {
    if (!this.#stopped) this.#assembler.push(packet, from);
  }

  #onWholeQuery(packet: MdnsPacket): void {
    if (this.#stopped) return;
    // Our own query, looped back (or one just after it): nothing to catch up on.
    if (this.#clock.now() - this.#lastSentAt < 500) return;
    if (!(packet.questions ?? []).some((q) => sameName(q.name, SERVICE_DOMAIN) && (q.type === 'PTR' || q.type === 'ANY'))) return;
    const mine = new Set(this.knownAnswers().map((r) => String(r.data).toLowerCase()));
    const theirs = (packet.answers ?? []).filter((r) => r.type === 'PTR' && sameName(r.name, SERVICE_DOMAIN));
    if (theirs.every((r) => mine.has(String(r.data).toLowerCase()))) this.#advance();
  }

  #advance(): void {
    // Jitter keeps hosts that were all suppressed by one query from asking at the same moment next.
    this.#schedule(this.#interval * (0.9 + this.#clock.random() * 0.2));
    this.#interval = Math.min(this.#interval * 2, this.#opts.maxIntervalMs);
  }

  #schedule(ms: number): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => {
      if (this.#stopped) return;
      this.#send();
      this.#advance();
    }, ms);
  }

  #send(): void {
    this.#sent++;
    this.#lastSentAt = this.#clock.now();
    for (const packet of splitQuery({ name: SERVICE_DOMAIN, type: 'PTR' }, this.knownAnswers())) this.#socket.query(packet);
  }
}

/** One query, its known answers spread over as many packets as needed, TC set on all but the last (§7.2). */
export function splitQuery(question: MdnsQuestion, known: MdnsRecord[]): MdnsPacket[] {
  const packets: MdnsPacket[] = [];
  let current: MdnsPacket = { questions: [question], answers: [] };
  let size = 12 + nameWireLength(question.name) + 4;
  for (const r of known) {
    const len = nameWireLength(r.name) + 10 + nameWireLength(String(r.data));
    if (size + len > PACKET_BUDGET && current.answers!.length > 0) {
      current.flags = TRUNCATED;
      packets.push(current);
      current = { questions: [], answers: [] };
      size = 12;
    }
    current.answers!.push(r);
    size += len;
  }
  packets.push(current);
  return packets;
}
