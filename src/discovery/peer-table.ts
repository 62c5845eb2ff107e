/**
 * The peers this daemon has heard of over mDNS. What mDNS says is a hint: the id in a TXT record
 * is only proven when a TLS handshake presents the matching key, so nothing here is trusted.
 */
import { EventEmitter } from 'node:events';
import type { Service } from '../lifecycle.js';

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
}

export interface PeerEntry {
  id: string;
  name: string;
  addresses: PeerAddress[];
  firstSeen: number;
  lastSeen: number;
  via: string;
}

export interface PeerTableEvents {
  up: [PeerEntry];
  down: [PeerEntry];
}

export class PeerTable extends EventEmitter<PeerTableEvents> {
  readonly #peers = new Map<string, PeerEntry>();
  readonly #now: () => number;

  constructor(deps: { now?: () => number } = {}) {
    super();
    this.#now = deps.now ?? Date.now;
  }

  /** Records a sighting; addresses are merged, newest first, so a moved peer is reached at once. */
  seen(sighting: PeerSighting): PeerEntry {
    const now = this.#now();
    const old = this.#peers.get(sighting.id);
    const addresses = mergeAddresses(sighting.addresses, old?.addresses ?? []);
    const entry: PeerEntry = {
      id: sighting.id,
      name: sighting.name,
      addresses,
      firstSeen: old?.firstSeen ?? now,
      lastSeen: now,
      via: sighting.via,
    };
    this.#peers.set(sighting.id, entry);
    if (old === undefined) this.emit('up', entry);
    return entry;
  }

  /** A goodbye (TTL 0) or an explicit removal. */
  gone(id: string): void {
    const entry = this.#peers.get(id);
    if (entry === undefined) return;
    this.#peers.delete(id);
    this.emit('down', entry);
  }

  /** Drops peers not heard from for `maxAgeMs`. */
  expire(maxAgeMs: number): void {
    const cutoff = this.#now() - maxAgeMs;
    for (const entry of [...this.#peers.values()]) {
      if (entry.lastSeen < cutoff) this.gone(entry.id);
    }
  }

  get(id: string): PeerEntry | undefined {
    return this.#peers.get(id);
  }

  list(): PeerEntry[] {
    return [...this.#peers.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }

  clear(): void {
    this.#peers.clear();
  }
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
 * Each interface's responder reports the addresses it knows, so sightings are merged; an old
 * address with a port the peer no longer announces is a previous run of it and is dropped.
 */
function mergeAddresses(fresh: PeerAddress[], old: PeerAddress[]): PeerAddress[] {
  const out: PeerAddress[] = [];
  const seen = new Set<string>();
  const ports = new Set(fresh.map((a) => a.port));
  for (const a of [...fresh, ...old.filter((o) => ports.has(o.port))]) {
    const key = `${a.host}|${a.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(a);
    if (out.length >= 8) break;
  }
  return out;
}
