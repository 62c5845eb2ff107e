/**
 * The `watch` stream: what a UI needs to stay current, as numbered events kept in a bounded ring
 * so that a client that reconnects can pick up where it left off. Transport-neutral: the Unix
 * socket and a future web dashboard read the same log.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingOfferView, OutboxItemView, PairingView, PeerView, TransferView } from './views.js';

/** How an offer stopped waiting; a client should treat a value it does not know as "ended". */
export type OfferOutcome = 'accepted' | 'rejected' | 'expired' | 'cancelled' | 'unknown' | (string & {});
/** How a pairing ended; as above. */
export type PairingOutcome = 'trusted' | 'rejected' | 'expired' | 'failed' | 'cancelled' | 'unknown' | (string & {});

/** The events the log keeps, by name, with their payloads. */
export interface WatchEventMap {
  /** A peer appeared in the peer list, or something about it changed (name, addresses, online, trust). */
  peer: { peer: PeerView };
  /** A peer left the peer list (an untrusted peer that went offline, or an offline one untrusted). */
  'peer-gone': { id: string };
  /** A transfer started or changed (state changes at once, progress at most every 200 ms). */
  transfer: { transfer: TransferView };
  /** A transfer ended (`done`, `failed` or `cancelled`); `files` is left out. */
  'transfer-end': { transfer: TransferView };
  /** An offer waits for a person's answer. */
  offer: { offer: IncomingOfferView };
  /** An offer stopped waiting. */
  'offer-end': { id: string; outcome: OfferOutcome };
  /** A pairing appeared or changed state (its code became known, this side confirmed). */
  pairing: { pairing: PairingView };
  /** A pairing ended. */
  'pairing-end': { id: string; outcome: PairingOutcome };
  /** An outbox item appeared or changed. */
  'outbox-item': { item: OutboxItemView };
  /** An outbox item left the queue (delivered, failed for good, or removed). */
  'outbox-item-gone': { peer: string; path: string };
}

export type WatchEventName = keyof WatchEventMap;

/** What a client receives for one logged event: its number, when, and the payload's fields. */
export type WatchEvent<K extends WatchEventName = WatchEventName> = { seq: number; at: string } & WatchEventMap[K];

/** Everything a client needs to start from, at log position `seq`. */
export interface WatchSnapshot {
  epoch: string;
  /** The last event this snapshot includes; the next event has `seq + 1`. */
  seq: number;
  peers: PeerView[];
  transfers: TransferView[];
  offers: IncomingOfferView[];
  pairings: PairingView[];
  outbox: OutboxItemView[];
}

/** Sent before a snapshot when `since` cannot be honoured: what the client has is stale. */
export interface WatchReset {
  epoch: string;
  seq: number;
  /** `too-old`: events after `since` were dropped; `other-epoch`: the daemon restarted; `ahead`: `since` is in the future. */
  reason: 'too-old' | 'other-epoch' | 'ahead';
}

/** What `watch` streams: the logged events (with `seq` and `at`), and the stream-only ones. */
export type WatchStreamEvents = { [K in WatchEventName]: WatchEvent<K> } & {
  snapshot: WatchSnapshot;
  reset: WatchReset;
};

export interface LoggedEvent {
  seq: number;
  type: WatchEventName;
  at: string;
  data: WatchEventMap[WatchEventName];
}

export const DEFAULT_EVENT_LOG_CAPACITY = 1024;

/** A ring of the latest events with a sequence number, and live subscribers. */
export class EventLog {
  /** Changes on every daemon start, so that a seq from an earlier run is not taken for this run's. */
  readonly epoch: string;
  readonly #capacity: number;
  readonly #ring: LoggedEvent[] = [];
  /** Index in #ring of the oldest event once the ring is full. */
  #head = 0;
  #seq = 0;
  readonly #listeners = new Set<(event: LoggedEvent) => void>();
  readonly #now: () => number;

  constructor(options: { capacity?: number; epoch?: string; now?: () => number } = {}) {
    this.#capacity = Math.max(1, options.capacity ?? DEFAULT_EVENT_LOG_CAPACITY);
    this.epoch = options.epoch ?? randomBytes(8).toString('hex');
    this.#now = options.now ?? Date.now;
  }

  /** The number of the last event published (0 before the first). */
  get seq(): number {
    return this.#seq;
  }

  publish<K extends WatchEventName>(type: K, data: WatchEventMap[K]): LoggedEvent {
    const event: LoggedEvent = { seq: ++this.#seq, type, at: new Date(this.#now()).toISOString(), data };
    if (this.#ring.length < this.#capacity) {
      this.#ring.push(event);
    } else {
      this.#ring[this.#head] = event;
      this.#head = (this.#head + 1) % this.#capacity;
    }
    for (const listener of [...this.#listeners]) listener(event);
    return event;
  }

  /**
   * The events after `since`, oldest first; a reason instead when they cannot all be given
   * (dropped from the ring, or `since` is beyond the last event).
   */
  after(since: number): LoggedEvent[] | { reset: 'too-old' | 'ahead' } {
    if (since > this.#seq) return { reset: 'ahead' };
    const missing = this.#seq - since;
    if (missing === 0) return [];
    if (missing > this.#ring.length) return { reset: 'too-old' };
    const ordered = [...this.#ring.slice(this.#head), ...this.#ring.slice(0, this.#head)];
    return ordered.slice(ordered.length - missing);
  }

  /** Calls `listener` with each event published from now on; returns the unsubscribe function. */
  subscribe(listener: (event: LoggedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get subscribers(): number {
    return this.#listeners.size;
  }
}

/** The wire form of a logged event: its payload's fields next to `seq` and `at`. */
export function watchEventData(event: LoggedEvent): WatchEvent {
  return { seq: event.seq, at: event.at, ...event.data } as WatchEvent;
}
