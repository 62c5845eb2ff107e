/**
 * Feeds the `watch` event log (control/events.ts) from the daemon's parts and serves the `watch`
 * method. Transfers and peers push their changes; the outbox is polled (its queue is small and
 * cheap to read) and changes are told apart by comparing each item with what was last published.
 */
import type { CallContext } from '../control/dispatcher.js';
import { EventLog, watchEventData, type OfferOutcome, type PairingOutcome, type WatchReset, type WatchSnapshot } from '../control/events.js';
import type { WatchParams } from '../control/methods.js';
import type { PeerView } from '../control/views.js';
import type { Logger } from '../log.js';
import {
  offerView,
  outboxItemView,
  pairingView,
  transferView,
  type OutboxItemRecord,
  type PairingRecord,
  type PendingOfferRecord,
  type TransferRecord,
} from './views.js';

/** What the events come from; each part is read through the few calls it needs. */
export interface EventSources {
  peers: {
    on(event: 'up' | 'down', listener: () => void): unknown;
    off(event: 'up' | 'down', listener: () => void): unknown;
  };
  /** The peer list as `peers` shows it. */
  peerViews(): PeerView[];
  transfers: {
    on(event: 'update' | 'end', listener: (r: TransferRecord) => void): unknown;
    off(event: 'update' | 'end', listener: (r: TransferRecord) => void): unknown;
    list(): TransferRecord[];
  };
  outbox(): OutboxItemRecord[];
  offers(): PendingOfferRecord[];
  pairings(): PairingRecord[];
}

export interface DaemonEventsOptions {
  /** How often the outbox (and, for now, offers and pairings) is compared with what was published. */
  pollMs?: number;
  /** How many polls between two comparisons of the whole peer list (peers also push up/down). */
  peerPollEvery?: number;
  capacity?: number;
}

const PEER_COALESCE_MS = 100;

/** Published state per key, as JSON, so a poll can tell what changed. */
type Seen = Map<string, string>;

export class DaemonEvents {
  readonly log: EventLog;
  readonly #logger: Logger;
  readonly #src: EventSources;
  readonly #pollMs: number;
  readonly #peerPollEvery: number;
  readonly #seen = { peers: new Map() as Seen, outbox: new Map() as Seen, offers: new Map() as Seen, pairings: new Map() as Seen };
  #timer: NodeJS.Timeout | undefined;
  #polls = 0;
  #peerTimer: NodeJS.Timeout | undefined;
  /** Many peers may come and go at once (a flood of announcements): one comparison per 100 ms. */
  readonly #onPeers = (): void => {
    this.#peerTimer ??= setTimeout(() => {
      this.#peerTimer = undefined;
      this.peersChanged();
    }, PEER_COALESCE_MS);
  };
  readonly #onUpdate = (r: TransferRecord): void => void this.log.publish('transfer', { transfer: transferView(r, { withFiles: false }) });
  readonly #onEnd = (r: TransferRecord): void => void this.log.publish('transfer-end', { transfer: transferView(r, { withFiles: false }) });

  constructor(deps: { logger: Logger; sources: EventSources }, options: DaemonEventsOptions = {}) {
    this.#logger = deps.logger;
    this.#src = deps.sources;
    this.#pollMs = options.pollMs ?? 1000;
    this.#peerPollEvery = options.peerPollEvery ?? 5;
    this.log = new EventLog(options.capacity === undefined ? {} : { capacity: options.capacity });
  }

  start(): void {
    this.#src.peers.on('up', this.#onPeers);
    this.#src.peers.on('down', this.#onPeers);
    this.#src.transfers.on('update', this.#onUpdate);
    this.#src.transfers.on('end', this.#onEnd);
    // What exists at start is the first snapshot's business, not a burst of events.
    this.#poll(true);
    this.#timer = setInterval(() => this.#poll(false), this.#pollMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#peerTimer);
    this.#peerTimer = undefined;
    this.#src.peers.off('up', this.#onPeers);
    this.#src.peers.off('down', this.#onPeers);
    this.#src.transfers.off('update', this.#onUpdate);
    this.#src.transfers.off('end', this.#onEnd);
  }

  /** A peer appeared, left, or was trusted or untrusted: publish what changed in the list. */
  peersChanged(quiet = false): void {
    // lastSeen changes with every announcement: not a change worth an event by itself.
    const views = this.#src.peerViews();
    diff(
      this.#seen.peers,
      views,
      (v) => v.id,
      ({ lastSeen: _l, ...rest }) => JSON.stringify(rest),
      quiet,
      {
        changed: (peer) => this.log.publish('peer', { peer }),
        gone: (id) => this.log.publish('peer-gone', { id }),
      },
    );
  }

  // The gate's and the pairing manager's events publish offers and pairings as they happen;
  // #poll() still compares lists as a safety net for anything an event missed.

  publishOffer(record: PendingOfferRecord): void {
    const offer = offerView(record);
    this.#seen.offers.set(offer.id, JSON.stringify(offer));
    this.log.publish('offer', { offer });
  }

  publishOfferEnd(id: string, outcome: OfferOutcome): void {
    if (!this.#seen.offers.delete(id)) return;
    this.log.publish('offer-end', { id, outcome });
  }

  publishPairing(record: PairingRecord): void {
    const pairing = pairingView(record);
    this.#seen.pairings.set(pairing.id, JSON.stringify(pairing));
    this.log.publish('pairing', { pairing });
  }

  publishPairingEnd(id: string, outcome: PairingOutcome): void {
    if (!this.#seen.pairings.delete(id)) return;
    this.log.publish('pairing-end', { id, outcome });
  }

  #poll(quiet: boolean): void {
    try {
      diff(
        this.#seen.outbox,
        this.#src.outbox().map(outboxItemView),
        (i) => i.path,
        (i) => JSON.stringify(i),
        quiet,
        {
          changed: (item) => this.log.publish('outbox-item', { item }),
          gone: (path) => this.log.publish('outbox-item-gone', { peer: path.split('/', 1)[0]!, path }),
        },
      );
      diff(
        this.#seen.offers,
        this.#src.offers().map(offerView),
        (o) => o.id,
        (o) => JSON.stringify(o),
        quiet,
        {
          changed: (offer) => this.log.publish('offer', { offer }),
          gone: (id) => this.log.publish('offer-end', { id, outcome: 'unknown' }),
        },
      );
      diff(
        this.#seen.pairings,
        this.#src.pairings().map(pairingView),
        (p) => p.id,
        (p) => JSON.stringify(p),
        quiet,
        {
          changed: (pairing) => this.log.publish('pairing', { pairing }),
          gone: (id) => this.log.publish('pairing-end', { id, outcome: 'unknown' }),
        },
      );
      if (quiet || ++this.#polls % this.#peerPollEvery === 0) this.peersChanged(quiet);
    } catch (err) {
      this.#logger.warn({ err }, 'cannot update the watch events');
    }
  }

  /** Everything a new watcher starts from, at the log's current position. */
  snapshot(): WatchSnapshot {
    return {
      epoch: this.log.epoch,
      seq: this.log.seq,
      peers: this.#src.peerViews(),
      transfers: this.#src.transfers.list().map((r) => transferView(r, { withFiles: false })),
      offers: this.#src.offers().map(offerView),
      pairings: this.#src.pairings().map(pairingView),
      outbox: this.#src.outbox().map(outboxItemView),
    };
  }

  /**
   * The `watch` method: a snapshot (or the events after `since`), then every event as it is
   * published, until the caller goes away. Everything up to the subscription runs in one tick,
   * so no event falls between the snapshot or backlog and the live stream.
   */
  async watch(params: WatchParams, ctx: CallContext<'watch'>): Promise<null> {
    const log = this.log;
    let reset: WatchReset['reason'] | undefined;
    let backlog: ReturnType<EventLog['after']> = [];
    if (params.since !== undefined) {
      if (params.epoch !== undefined && params.epoch !== log.epoch) reset = 'other-epoch';
      else backlog = log.after(params.since);
      if (!Array.isArray(backlog)) {
        reset = backlog.reset;
        backlog = [];
      }
    }
    if (reset !== undefined) ctx.emit('reset', { epoch: log.epoch, seq: log.seq, reason: reset });
    if (params.since === undefined || reset !== undefined) ctx.emit('snapshot', this.snapshot());
    for (const e of backlog) ctx.emit(e.type, watchEventData(e) as never);
    const unsubscribe = log.subscribe((e) => ctx.emit(e.type, watchEventData(e) as never));
    try {
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      unsubscribe();
    }
    return null;
  }
}

/**
 * Compares `items` with what was published under their keys and reports new or changed items
 * and keys that are gone; with `quiet`, only records them (the state at start).
 */
function diff<T>(
  seen: Seen,
  items: T[],
  key: (item: T) => string,
  fingerprint: (item: T) => string,
  quiet: boolean,
  on: { changed: (item: T) => void; gone: (key: string) => void },
): void {
  const present = new Set<string>();
  for (const item of items) {
    const k = key(item);
    present.add(k);
    const f = fingerprint(item);
    if (seen.get(k) === f) continue;
    seen.set(k, f);
    if (!quiet) on.changed(item);
  }
  for (const k of [...seen.keys()]) {
    if (present.has(k)) continue;
    seen.delete(k);
    if (!quiet) on.gone(k);
  }
}
