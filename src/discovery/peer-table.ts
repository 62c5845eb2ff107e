/**
 * The peers this daemon has heard of over mDNS. What mDNS says is a hint: the id in a TXT record
 * is only proven when a TLS handshake presents the matching key, so nothing here is trusted, and
 * nobody on the network can make the table forget a peer's real address or grow without bound:
 * - an announcement adds or refreshes addresses and never removes one; each address expires on
 *   its own when nobody announces it any more, and the dialer proves which one is the peer;
 * - one host keeps at most MAX_PORTS_PER_HOST addresses per id, so a stranger announcing a peer's
 *   id on many ports cannot push out the peer's own address;
 * - one source address may introduce only `newPeersPerMinute` unknown ids a minute, and the table
 *   holds at most `maxPeers`; when full, the untrusted peer heard from longest ago makes room.
 */
import { EventEmitter } from 'node:events';
import type { Service } from '../lifecycle.js';
import { compareNames } from '../display-text.js';

export interface PeerAddress {
  host: string;
  port: number;
}

/** One sighting of a peer, as the discovery adapter reports it (already checked for shape). */
export interface PeerSighting {
  id: string;
  name: string;
  addresses: PeerAddress[];
  /** Which local interface or source saw it, for diagnostics. */
  via: string;
  /** The address the announcement came from (for rate limits); defaults to the first address. */
  source?: string;
}

export interface PeerEntry {
  id: string;
  name: string;
  /** Newest first. */
  addresses: PeerAddress[];
  firstSeen: number;
  lastSeen: number;
  via: string;
}

/** Announcements the table refused in the last minute, by source: a summary for the log. */
export interface FloodReport {
  source: string;
  refused: number;
  reason: 'rate' | 'full';
}

export interface PeerTableEvents {
  up: [PeerEntry];
  down: [PeerEntry];
  flood: [FloodReport];
}

export interface PeerTableOptions {
  maxPeers: number;
  newPeersPerMinute: number;
}

const MAX_ADDRESSES = 8;
const MAX_PORTS_PER_HOST = 2;
const WINDOW_MS = 60_000;
export const DEFAULT_PEER_TABLE_OPTIONS: PeerTableOptions = { maxPeers: 512, newPeersPerMinute: 16 };

interface Stored {
  id: string;
  name: string;
  addresses: Array<PeerAddress & { seen: number }>;
  firstSeen: number;
  via: string;
}

interface SourceWindow {
  start: number;
  added: number;
  refused: number;
  reason: FloodReport['reason'];
}

export class PeerTable extends EventEmitter<PeerTableEvents> {
  readonly #peers = new Map<string, Stored>();
  readonly #sources = new Map<string, SourceWindow>();
  readonly #now: () => number;
  readonly #isTrusted: (id: string) => boolean;
  readonly #opts: PeerTableOptions;

  constructor(deps: { now?: () => number; isTrusted?: (id: string) => boolean } = {}, options: Partial<PeerTableOptions> = {}) {
    super();
    this.#now = deps.now ?? Date.now;
    this.#isTrusted = deps.isTrusted ?? (() => false);
    this.#opts = { ...DEFAULT_PEER_TABLE_OPTIONS, ...options };
  }

  /** Records a sighting; returns the entry, or null when the table refused a new id. */
  seen(sighting: PeerSighting): PeerEntry | null {
    const now = this.#now();
    const old = this.#peers.get(sighting.id);
    if (old === undefined && !this.#admitNew(sighting, now)) return null;
    const stored: Stored = old ?? { id: sighting.id, name: sighting.name, addresses: [], firstSeen: now, via: sighting.via };
    stored.name = sighting.name;
    stored.via = sighting.via;
    stored.addresses = mergeAddresses(sighting.addresses, stored.addresses, now);
    this.#peers.set(sighting.id, stored);
    const entry = toEntry(stored);
    if (old === undefined) this.emit('up', entry);
    return entry;
  }

  /** A goodbye (TTL 0) or an explicit removal. */
  gone(id: string): void {
    const stored = this.#peers.get(id);
    if (stored === undefined) return;
    this.#peers.delete(id);
    this.emit('down', toEntry(stored));
  }

  /** Drops addresses not announced for `maxAgeMs`, and peers left with none. */
  expire(maxAgeMs: number): void {
    const cutoff = this.#now() - maxAgeMs;
    for (const stored of [...this.#peers.values()]) {
      stored.addresses = stored.addresses.filter((a) => a.seen >= cutoff);
      if (stored.addresses.length === 0) this.gone(stored.id);
    }
    for (const [source, w] of this.#sources) if (w.start < this.#now() - WINDOW_MS) this.#closeWindow(source, w);
  }

  get(id: string): PeerEntry | undefined {
    const stored = this.#peers.get(id);
    return stored === undefined ? undefined : toEntry(stored);
  }

  list(): PeerEntry[] {
    return [...this.#peers.values()].map(toEntry).sort((a, b) => compareNames(a.name, b.name) || compareNames(a.id, b.id));
  }

  get size(): number {
    return this.#peers.size;
  }

  clear(): void {
    this.#peers.clear();
    this.#sources.clear();
  }

  /** Rate limit per source, then room in the table: a trusted id is always let in. */
  #admitNew(sighting: PeerSighting, now: number): boolean {
    const trusted = this.#isTrusted(sighting.id);
    const source = sighting.source ?? sighting.addresses[0]?.host ?? 'unknown';
    let w = this.#sources.get(source);
    if (w !== undefined && now - w.start >= WINDOW_MS) {
      this.#closeWindow(source, w);
      w = undefined;
    }
    if (w === undefined) {
      w = { start: now, added: 0, refused: 0, reason: 'rate' };
      this.#sources.set(source, w);
    }
    if (!trusted && w.added >= this.#opts.newPeersPerMinute) return this.#refuse(source, w, 'rate');
    if (this.#peers.size >= this.#opts.maxPeers && !this.#evictOne(trusted)) return this.#refuse(source, w, 'full');
    w.added++;
    return true;
  }

  /** Makes room: the untrusted peer heard from longest ago goes (any untrusted one for a trusted id). */
  #evictOne(forTrusted: boolean): boolean {
    let victim: Stored | undefined;
    let victimSeen = Infinity;
    for (const s of this.#peers.values()) {
      if (this.#isTrusted(s.id)) continue;
      const seen = s.addresses[0]?.seen ?? 0;
      if (seen < victimSeen) {
        victim = s;
        victimSeen = seen;
      }
    }
    // A stranger only displaces strangers that have gone quiet, never ones heard this minute.
    if (victim === undefined || (!forTrusted && victimSeen > this.#now() - WINDOW_MS)) return false;
    this.gone(victim.id);
    return true;
  }

  #refuse(source: string, w: SourceWindow, reason: FloodReport['reason']): false {
    if (w.refused === 0) this.emit('flood', { source, refused: 1, reason });
    w.refused++;
    w.reason = reason;
    return false;
  }

  /** The first refusal of a window is reported at once, the rest as one summary when it closes. */
  #closeWindow(source: string, w: SourceWindow): void {
    if (w.refused > 1) this.emit('flood', { source, refused: w.refused - 1, reason: w.reason });
    this.#sources.delete(source);
  }
}

function toEntry(s: Stored): PeerEntry {
  return {
    id: s.id,
    name: s.name,
    addresses: s.addresses.map(({ host, port }) => ({ host, port })),
    firstSeen: s.firstSeen,
    lastSeen: s.addresses[0]?.seen ?? s.firstSeen,
    via: s.via,
  };
}

/**
 * Expires peers on a timer: mDNS sightings carry no end, so a peer not heard from for
 * `expireMs` is taken as gone.
 */
export class PeerExpiry implements Service {
  readonly name = 'peerExpiry';
  readonly #peers: PeerTable;
  readonly #expireMs: number;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: { peers: PeerTable }, options: { expireMs: number; intervalMs?: number }) {
    this.#peers = deps.peers;
    this.#expireMs = options.expireMs;
    this.#intervalMs = options.intervalMs ?? 1000;
  }

  async start(_options: { signal: AbortSignal }): Promise<void> {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#peers.expire(this.#expireMs), this.#intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * Fresh addresses go first (a moved peer is reached at once); known ones are refreshed, none is
 * dropped here. Per host only the newest ports stay, and the oldest addresses make room.
 */
function mergeAddresses(fresh: PeerAddress[], old: Array<PeerAddress & { seen: number }>, now: number): Array<PeerAddress & { seen: number }> {
  const byKey = new Map<string, PeerAddress & { seen: number }>();
  for (const a of fresh) byKey.set(`${a.host}|${a.port}`, { host: a.host, port: a.port, seen: now });
  for (const a of old) if (!byKey.has(`${a.host}|${a.port}`)) byKey.set(`${a.host}|${a.port}`, a);
  const perHost = new Map<string, number>();
  const out: Array<PeerAddress & { seen: number }> = [];
  for (const a of [...byKey.values()].sort((x, y) => y.seen - x.seen)) {
    const n = perHost.get(a.host) ?? 0;
    if (n >= MAX_PORTS_PER_HOST) continue;
    perHost.set(a.host, n + 1);
    out.push(a);
    if (out.length >= MAX_ADDRESSES) break;
  }
  return out;
}
