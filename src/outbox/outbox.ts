/**
 * The outbox: files and folders dropped into `<outbox>/<peer>/` are sent to that peer on their
 * own, once they have stopped changing.
 *
 * Life of an item (one top-level entry of a peer folder; a folder goes whole, in one transfer):
 *
 *   settling ──stable for stableSeconds──▸ queued ──peer online, a slot free──▸ sending
 *      ▲                                     │  ▲                                  │
 *      │                               peer offline│ peerOnline() / retry()         │
 *      │                                     ▼  │                                  │
 *      │                                 waiting-peer ◂──────┐                     │
 *      └── changed (any time before it is sent, or while it was sent) ◂────────────┤
 *                                            retrying ◂── transient failure ───────┤
 *            .sent/<peer>/ (or deleted) ◂── verified delivery, item unchanged ─────┤
 *            .failed/<peer>/ + note     ◂── permanent failure, or giveUpHours ─────┘
 *
 * Nothing is persisted: after a restart the first scan finds every item again (the give-up clock
 * restarts with it). An item is never sent twice at once; a send interrupted by stop() leaves the
 * item where it is.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { P2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import { displayName } from '../store/safe-name.js';
import { Delivery, HOUR_MS } from './delivery.js';
import { createOutboxFolders, createPeerFolder, isPeerFolderName } from './folders.js';
import { ItemTable, itemKey, observeSignature, type OutboxChange, type OutboxItem } from './item-table.js';
import { checkOptions, type OutboxOptions } from './options.js';
import type { OutboxItemView, OutboxPeers, OutboxSender } from './ports.js';
import { applyScan } from './scan-apply.js';
import { scanOutbox, type OutboxScan } from './scan.js';
import { probeItem, type ItemSignature } from './signature.js';
import { WarnOnce } from './warn-once.js';
import { FolderWatchers } from './watch.js';

export type { OutboxOptions } from './options.js';
export { isPeerFolderName } from './folders.js';

export interface OutboxDeps {
  logger: Logger;
  sender: OutboxSender;
  peers: OutboxPeers;
  /** Milliseconds since the epoch; tests move it forward. Default Date.now. */
  now?: () => number;
}

/** How often settling items are looked at again. */
const SETTLE_TICK_MS = 500;
/** Watch events arrive in bursts while a file is written: one rescan per burst. */
const RESCAN_DEBOUNCE_MS = 250;

type Phase = 'new' | 'started' | 'stopped';

/** Events of the outbox: `change` whenever an item of queue() appears, changes or goes away. */
export interface OutboxEvents {
  change: [change: OutboxChange];
}

export class Outbox extends EventEmitter<OutboxEvents> {
  readonly #log: Logger;
  readonly #sender: OutboxSender;
  readonly #peers: OutboxPeers;
  readonly #now: () => number;
  readonly #dir: string;
  readonly #stableMs: number;
  readonly #giveUpMs: number;
  readonly #maxConcurrent: number;
  readonly #watchEnabled: boolean;

  readonly #items: ItemTable;
  readonly #delivery: Delivery;
  readonly #inflight = new Set<Promise<void>>();
  #running = 0;

  #phase: Phase = 'new';
  readonly #root = new AbortController();
  #stopped: Promise<void> | null = null;
  #watchers: FolderWatchers | null = null;
  #tickTimer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  #debounceTimer: NodeJS.Timeout | null = null;
  #scan: Promise<void> | null = null;
  #scanAgain: Promise<void> | null = null;
  readonly #warnings = new WarnOnce();

  constructor(deps: OutboxDeps, options: OutboxOptions) {
    super();
    this.#log = deps.logger;
    this.#sender = deps.sender;
    this.#peers = deps.peers;
    this.#now = deps.now ?? Date.now;
    const maxConcurrent = checkOptions(options);
    this.#dir = options.dir;
    this.#stableMs = options.stableSeconds * 1000;
    this.#giveUpMs = options.giveUpHours * HOUR_MS;
    this.#maxConcurrent = maxConcurrent;
    this.#watchEnabled = options.watch ?? true;
    this.#items = new ItemTable((change) => {
      try {
        this.emit('change', change);
      } catch (err) {
        this.#log.error({ err }, 'an outbox change listener failed');
      }
    });
    this.#delivery = new Delivery(
      { logger: this.#log, sender: this.#sender, table: this.#items, now: this.#now, signal: this.#root.signal, settleAgain: () => this.#scheduleTick() },
      { dir: this.#dir, afterSend: options.afterSend, giveUpMs: this.#giveUpMs },
    );
  }

  /**
   * Creates the outbox (0700 if new), .sent/, .failed/ and a folder per trusted peer, starts
   * watching and runs a first scan, so items dropped while the daemon was stopped are found.
   * Aborting `signal` stops the outbox as stop() does.
   */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#phase !== 'new') throw new P2pdError('INTERNAL', 'the outbox can be started only once');
    options.signal?.throwIfAborted();
    this.#phase = 'started';
    options.signal?.addEventListener('abort', () => void this.stop(), { once: true });
    try {
      await createOutboxFolders(this.#dir);
      for (const name of this.#peers.trustedNames()) await this.ensurePeerFolder(name);
      if (this.#watchEnabled) {
        this.#watchers = new FolderWatchers({ onEvent: () => this.#scheduleRescan(), logger: this.#log });
      }
      await this.rescan();
      options.signal?.throwIfAborted();
      this.#log.debug({ dir: this.#dir, items: this.#items.size, watching: this.#watchEnabled }, 'outbox ready');
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Stops watching and the timers, aborts running sends (their items stay in the outbox) and waits
   * for them to settle. Safe to call more than once, and before start().
   */
  stop(): Promise<void> {
    if (this.#stopped !== null) return this.#stopped;
    this.#phase = 'stopped';
    if (this.#tickTimer !== null) clearTimeout(this.#tickTimer);
    if (this.#debounceTimer !== null) clearTimeout(this.#debounceTimer);
    this.#tickTimer = null;
    this.#debounceTimer = null;
    this.#watchers?.close();
    this.#root.abort(new P2pdError('TRANSFER_CANCELLED', 'the outbox is stopping'));
    this.#stopped = Promise.allSettled([...this.#inflight, this.#scan, this.#ticking]).then(() => undefined);
    return this.#stopped;
  }

  /**
   * A full scan: new items start settling, changed ones settle again, removed ones are forgotten.
   * Calls made while a scan runs share one more scan after it. Never rejects.
   */
  rescan(): Promise<void> {
    if (this.#phase !== 'started') return Promise.resolve();
    if (this.#scan === null) {
      this.#scan = this.#runScan()
        .catch((err: unknown) => this.#log.error({ err }, 'outbox scan failed'))
        .finally(() => {
          this.#scan = null;
        });
      return this.#scan;
    }
    this.#scanAgain ??= this.#scan.then(() => {
      this.#scanAgain = null;
      return this.rescan();
    });
    return this.#scanAgain;
  }

  /**
   * Attempts every queued, retrying or waiting item whose peer is online; gives up (to .failed/)
   * on those failing for longer than giveUpHours. Resolves once the sends have started, not ended.
   */
  async retry(): Promise<void> {
    if (this.#phase !== 'started') return;
    const giveUps: Array<Promise<void>> = [];
    for (const item of this.#items.values()) {
      if (item.state !== 'retrying' && item.state !== 'waiting-peer') continue;
      if (this.#delivery.giveUpDue(item)) {
        item.state = 'moving';
        giveUps.push(this.#track(this.#delivery.giveUp(item, { kind: 'gave-up', hours: this.#giveUpMs / HOUR_MS })));
      } else if (this.#isOnline(item.peer)) {
        item.state = 'queued';
      }
    }
    this.#pump();
    await Promise.all(giveUps);
  }

  /**
   * A peer appeared under this name: its waiting and retrying items go now, without asking
   * isOnline(). Call once for each name the peer can be addressed by.
   */
  peerOnline(peer: string): void {
    if (this.#phase !== 'started') return;
    let count = 0;
    for (const item of this.#items.values()) {
      if (item.peer !== peer) continue;
      if (item.state !== 'waiting-peer' && item.state !== 'retrying' && item.state !== 'queued') continue;
      item.state = 'queued';
      item.force = true;
      count++;
    }
    if (count > 0) {
      this.#log.info({ peer: displayName(peer), items: count }, 'peer online: sending its outbox items');
      this.#pump();
    }
  }

  /**
   * Makes `<outbox>/<name>/` (0700) for a newly trusted peer. A name that cannot be a single safe
   * folder name ("..", "a/b", control characters, a leading ".") is logged and skipped. Never rejects.
   */
  async ensurePeerFolder(name: string): Promise<void> {
    if (this.#phase === 'stopped') return;
    if (!isPeerFolderName(name)) {
      this.#log.warn({ peer: displayName(String(name)) }, 'no outbox folder for this peer: its name cannot be a folder name');
      return;
    }
    // No rescan needed: the folder is empty, and the watch on the outbox sees it appear.
    await createPeerFolder(this.#dir, name, this.#log);
  }

  /** The items in the outbox, oldest first, for `p2pd status`; the `change` event follows it. */
  queue(): OutboxItemView[] {
    return this.#items
      .values()
      .sort((a, b) => a.since - b.since || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((item) => item.view());
  }

  // ── scanning ────────────────────────────────────────────────────────────────────────────

  async #runScan(): Promise<void> {
    const startedAt = this.#items.removals;
    let found: OutboxScan;
    try {
      found = await scanOutbox(this.#dir, { signal: this.#root.signal, skip: (peer, name) => this.#isBusy(itemKey(peer, name)) });
    } catch (err) {
      if (this.#root.signal.aborted) return;
      this.#warnings.once('outbox-unreadable', () =>
        this.#log.warn({ err, dir: displayName(this.#dir) }, 'cannot read the outbox; trying again at the next rescan'),
      );
      return;
    }
    if (this.#phase !== 'started') return;
    this.#warnings.forget('outbox-unreadable');
    this.#apply(found, startedAt);
    if (this.#watchers !== null) {
      const added = await this.#watchers.sync([this.#dir, ...found.peers.map((peer) => join(this.#dir, peer))]);
      // Something may have arrived before a new watcher existed: look once more.
      if (added > 0) this.#scheduleRescan();
    }
  }

  #apply(found: OutboxScan, startedAt: number): void {
    applyScan(found, startedAt, {
      table: this.#items,
      now: this.#now(),
      logger: this.#log,
      warnings: this.#warnings,
      add: (peer, name, signature, now) => this.#add(peer, name, signature, now),
      observe: (item, signature, now) => this.#observe(item, signature, now),
    });
    this.#scheduleTick();
  }

  #add(peer: string, name: string, signature: ItemSignature, now: number): void {
    const key = itemKey(peer, name);
    this.#items.add({ peer, name, abs: join(this.#dir, peer, name), signature, now });
    this.#log.debug({ item: displayName(key), kind: signature.kind, bytes: signature.bytes }, 'new outbox item; waiting for it to settle');
  }

  /** A fresh look at an idle item: a changed signature restarts its stability clock. */
  #observe(item: OutboxItem, signature: ItemSignature, now: number): void {
    if (observeSignature(item, signature, now)) this.#log.info({ item: displayName(item.key) }, 'outbox item changed; waiting for it to settle again');
  }

  #forget(item: OutboxItem): void {
    this.#items.forget(item);
  }

  #isBusy(key: string): boolean {
    return this.#items.isBusy(key);
  }

  #scheduleRescan(): void {
    if (this.#phase !== 'started' || this.#debounceTimer !== null) return;
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = null;
      void this.rescan();
    }, RESCAN_DEBOUNCE_MS);
    this.#debounceTimer.unref();
  }

  // ── settling ────────────────────────────────────────────────────────────────────────────

  /** Runs the stability timer while anything is settling; nothing runs when nothing is. */
  #scheduleTick(): void {
    if (this.#phase !== 'started' || this.#tickTimer !== null || this.#ticking !== null) return;
    if (!this.#items.values().some((item) => item.state === 'settling')) return;
    this.#tickTimer = setTimeout(() => {
      this.#tickTimer = null;
      this.#ticking = this.#tick()
        .catch((err: unknown) => this.#log.error({ err }, 'outbox stability check failed'))
        .finally(() => {
          this.#ticking = null;
          this.#scheduleTick();
        });
    }, SETTLE_TICK_MS);
    this.#tickTimer.unref();
  }

  async #tick(): Promise<void> {
    const settling = this.#items.values().filter((item) => item.state === 'settling');
    await Promise.all(settling.map((item) => this.#settle(item)));
    this.#pump();
  }

  async #settle(item: OutboxItem): Promise<void> {
    let probe;
    try {
      probe = await probeItem(item.abs, { signal: this.#root.signal });
    } catch (err) {
      if (this.#root.signal.aborted) return;
      this.#warnings.once(`unreadable:${item.key}`, () => this.#log.warn({ err, item: displayName(item.key) }, 'cannot read an outbox item; it waits'));
      return;
    }
    if (this.#phase !== 'started' || this.#items.get(item.key) !== item || item.state !== 'settling') return;
    if (probe.type === 'gone') {
      this.#log.info({ item: displayName(item.key) }, 'removed from the outbox before it was sent');
      this.#forget(item);
      return;
    }
    if (probe.type === 'unsupported') {
      this.#warnings.once(`unsupported:${item.key}`, () =>
        this.#log.warn({ item: displayName(item.key), what: probe.what }, 'not sent: only regular files and folders are'),
      );
      this.#forget(item);
      return;
    }
    const now = this.#now();
    this.#observe(item, probe.signature, now);
    if (now - item.changedAt >= this.#stableMs) {
      item.state = 'queued';
      this.#log.debug({ item: displayName(item.key) }, 'outbox item settled');
    }
  }

  // ── sending ─────────────────────────────────────────────────────────────────────────────

  /** Starts sends for queued items while slots are free; items of offline peers wait. */
  #pump(): void {
    if (this.#phase !== 'started') return;
    const queued = this.#items
      .values()
      .filter((item) => item.state === 'queued')
      .sort((a, b) => a.since - b.since);
    for (const item of queued) {
      if (!item.force && !this.#isOnline(item.peer)) {
        item.state = 'waiting-peer';
        item.pendingSince ??= this.#now();
        this.#log.debug({ item: displayName(item.key), peer: displayName(item.peer) }, 'peer offline; the outbox item waits');
        continue;
      }
      if (this.#running >= this.#maxConcurrent) continue;
      item.state = 'sending';
      item.force = false;
      this.#running++;
      void this.#track(
        this.#delivery.send(item).finally(() => {
          this.#running--;
          this.#pump();
        }),
      );
    }
  }

  /** Keeps `work` for stop() to wait on; logs instead of rejecting. */
  #track(work: Promise<void>): Promise<void> {
    const tracked = work.catch((err: unknown) => this.#log.error({ err }, 'outbox: unexpected failure'));
    this.#inflight.add(tracked);
    void tracked.finally(() => this.#inflight.delete(tracked));
    return tracked;
  }

  #isOnline(peer: string): boolean {
    try {
      return this.#sender.isOnline(peer);
    } catch (err) {
      this.#log.debug({ err, peer: displayName(peer) }, 'isOnline failed; taking the peer as offline');
      return false;
    }
  }
}
