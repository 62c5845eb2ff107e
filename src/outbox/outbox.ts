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
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { P2pdError, isErrorCode, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkRelativePath, displayName } from '../store/safe-name.js';
import { classifyFailure, failureNote, type GiveUpReason } from './classify.js';
import { FAILED_DIR, SENT_DIR, deleteItem, moveToFailed, moveToSent } from './moves.js';
import type { OutboxItemState, OutboxItemView, OutboxPeers, OutboxSender, SendOutcome } from './ports.js';
import { isHidden, scanOutbox, type OutboxScan } from './scan.js';
import { probeItem, sameSignature, type ItemSignature } from './signature.js';
import { FolderWatchers } from './watch.js';

export interface OutboxDeps {
  logger: Logger;
  sender: OutboxSender;
  peers: OutboxPeers;
  /** Milliseconds since the epoch; tests move it forward. Default Date.now. */
  now?: () => number;
}

export interface OutboxOptions {
  /** The outbox folder; created (0700) if missing. */
  dir: string;
  afterSend: 'move' | 'delete';
  stableSeconds: number;
  /** 0 = never give up on transient failures. */
  giveUpHours: number;
  /** Most sends at once; default 2. */
  maxConcurrent?: number;
  /** Watch the folders for changes (default true); without it only rescan() notices new items. */
  watch?: boolean;
}

/** How often settling items are looked at again. */
const SETTLE_TICK_MS = 500;
/** Watch events arrive in bursts while a file is written: one rescan per burst. */
const RESCAN_DEBOUNCE_MS = 250;
const HOUR_MS = 3_600_000;

/** 'moving': on its way to .failed/ outside a send; shown as 'retrying'. */
type InternalState = OutboxItemState | 'moving';

interface Item {
  readonly key: string;
  readonly peer: string;
  readonly name: string;
  readonly abs: string;
  signature: ItemSignature;
  /** When the signature was last seen to change (or first seen). */
  changedAt: number;
  state: InternalState;
  attempts: number;
  lastError: { code: string; message: string } | null;
  transferId: string | null;
  readonly since: number;
  /** When the item was first ready but could not be delivered (peer offline or a failure). */
  pendingSince: number | null;
  /** peerOnline() asked for an attempt: skip the isOnline() check once. */
  force: boolean;
}

type Phase = 'new' | 'started' | 'stopped';

export class Outbox {
  readonly #log: Logger;
  readonly #sender: OutboxSender;
  readonly #peers: OutboxPeers;
  readonly #now: () => number;
  readonly #dir: string;
  readonly #afterSend: 'move' | 'delete';
  readonly #stableMs: number;
  readonly #giveUpMs: number;
  readonly #maxConcurrent: number;
  readonly #watchEnabled: boolean;

  readonly #items = new Map<string, Item>();
  /**
   * Delivered items that could not be moved out of the outbox, with the signature they were sent
   * with: not sent again while unchanged (until a restart).
   */
  readonly #parked = new Map<string, ItemSignature>();
  /** Items removed from #items, by the scan sequence number, so a scan that started earlier does not bring them back. */
  readonly #removed = new Map<string, number>();
  #removals = 0;
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
  /** Keys of conditions already warned about ("stray:<name>", "unsupported:<peer/name>", ...). */
  #warned = new Set<string>();

  constructor(deps: OutboxDeps, options: OutboxOptions) {
    this.#log = deps.logger;
    this.#sender = deps.sender;
    this.#peers = deps.peers;
    this.#now = deps.now ?? Date.now;
    if (typeof options.dir !== 'string' || options.dir.length === 0) invalid('outbox', 'must be a non-empty path');
    if (!(options.stableSeconds >= 0)) invalid('delivery.stableSeconds', 'must be 0 or more');
    if (!(options.giveUpHours >= 0)) invalid('delivery.giveUpHours', 'must be 0 or more');
    const maxConcurrent = options.maxConcurrent ?? 2;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) invalid('maxConcurrent', 'must be a positive integer');
    this.#dir = options.dir;
    this.#afterSend = options.afterSend;
    this.#stableMs = options.stableSeconds * 1000;
    this.#giveUpMs = options.giveUpHours * HOUR_MS;
    this.#maxConcurrent = maxConcurrent;
    this.#watchEnabled = options.watch ?? true;
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
      for (const sub of ['', SENT_DIR, FAILED_DIR]) {
        const path = join(this.#dir, sub);
        try {
          await mkdir(path, { recursive: true, mode: 0o700 });
        } catch (err) {
          throw new P2pdError('CONFIG_INVALID', `outbox: cannot create ${displayName(path)}: ${(err as Error).message}`, {
            cause: err,
            details: { key: 'outbox' },
          });
        }
      }
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
      if (this.#giveUpDue(item)) {
        item.state = 'moving';
        giveUps.push(this.#track(this.#giveUp(item, { kind: 'gave-up', hours: this.#giveUpMs / HOUR_MS })));
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
    try {
      await mkdir(join(this.#dir, name), { mode: 0o700 });
      // No rescan needed: the folder is empty, and the watch on the outbox sees it appear.
      this.#log.info({ peer: displayName(name) }, 'created an outbox folder for the peer');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
      this.#log.warn({ err, peer: displayName(name) }, 'cannot create the outbox folder for the peer');
    }
  }

  /** The items in the outbox, oldest first, for `p2pd status`. */
  queue(): OutboxItemView[] {
    return [...this.#items.values()]
      .sort((a, b) => a.since - b.since || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((item) => ({
        peer: item.peer,
        path: item.key,
        kind: item.signature.kind,
        bytes: item.signature.bytes,
        state: item.state === 'moving' ? 'retrying' : item.state,
        attempts: item.attempts,
        lastError: item.lastError === null ? null : { ...item.lastError },
        transferId: item.transferId,
        since: new Date(item.since).toISOString(),
      }));
  }

  // ── scanning ────────────────────────────────────────────────────────────────────────────

  async #runScan(): Promise<void> {
    const startedAt = this.#removals;
    let found: OutboxScan;
    try {
      found = await scanOutbox(this.#dir, { signal: this.#root.signal, skip: (peer, name) => this.#isBusy(itemKey(peer, name)) });
    } catch (err) {
      if (this.#root.signal.aborted) return;
      this.#warnOnce('outbox-unreadable', () => this.#log.warn({ err, dir: displayName(this.#dir) }, 'cannot read the outbox; trying again at the next rescan'));
      return;
    }
    if (this.#phase !== 'started') return;
    this.#warned.delete('outbox-unreadable');
    this.#apply(found, startedAt);
    if (this.#watchers !== null) {
      const added = await this.#watchers.sync([this.#dir, ...found.peers.map((peer) => join(this.#dir, peer))]);
      // Something may have arrived before a new watcher existed: look once more.
      if (added > 0) this.#scheduleRescan();
    }
  }

  #apply(found: OutboxScan, startedAt: number): void {
    const now = this.#now();
    const warnedNow = new Set<string>();
    const seen = new Set<string>();
    const unreadable = new Set<string>();
    const unreadablePeers = new Set<string>();

    for (const name of found.strays) {
      const key = `stray:${name}`;
      warnedNow.add(key);
      this.#warnOnce(key, () => this.#log.warn({ name: displayName(name) }, 'ignored: only folders named after peers belong directly in the outbox'));
    }
    for (const failure of found.failures) {
      if (failure.name === '') unreadablePeers.add(failure.peer);
      else unreadable.add(itemKey(failure.peer, failure.name));
      const key = `unreadable:${failure.peer}/${failure.name}`;
      warnedNow.add(key);
      this.#warnOnce(key, () =>
        this.#log.warn({ err: failure.err, item: displayName(`${failure.peer}/${failure.name}`) }, 'cannot read an outbox item; it waits'),
      );
    }

    for (const { peer, name, probe } of found.items) {
      const key = itemKey(peer, name);
      seen.add(key);
      if (probe === null) continue; // busy: being sent or moved
      const existing = this.#items.get(key);
      if (probe.type === 'unsupported') {
        const warnKey = `unsupported:${key}`;
        warnedNow.add(warnKey);
        this.#warnOnce(warnKey, () => this.#log.warn({ item: displayName(key), what: probe.what }, 'not sent: only regular files and folders are'));
        if (existing !== undefined && !this.#isBusy(key)) this.#forget(existing);
        continue;
      }
      if (probe.type !== 'item') continue;
      if (existing !== undefined) {
        if (!this.#isBusy(key)) this.#observe(existing, probe.signature, now);
        continue;
      }
      if ((this.#removed.get(key) ?? -1) >= startedAt) continue; // done with while this scan ran
      const parked = this.#parked.get(key);
      if (parked !== undefined) {
        if (sameSignature(parked, probe.signature)) continue;
        this.#parked.delete(key);
      }
      this.#add(peer, name, probe.signature, now);
    }

    for (const item of [...this.#items.values()]) {
      if (seen.has(item.key) || unreadable.has(item.key) || unreadablePeers.has(item.peer) || this.#isBusy(item.key)) continue;
      this.#log.info({ item: displayName(item.key) }, 'removed from the outbox before it was sent');
      this.#forget(item);
    }
    for (const key of this.#parked.keys()) if (!seen.has(key)) this.#parked.delete(key);
    // Scans run one at a time: whatever was removed before this one ended cannot confuse the next.
    this.#removed.clear();
    // Warn again about a condition that went away and came back.
    for (const key of this.#warned) if (key !== 'outbox-unreadable' && !warnedNow.has(key)) this.#warned.delete(key);
    this.#scheduleTick();
  }

  #add(peer: string, name: string, signature: ItemSignature, now: number): void {
    const key = itemKey(peer, name);
    this.#items.set(key, {
      key,
      peer,
      name,
      abs: join(this.#dir, peer, name),
      signature,
      changedAt: now,
      state: 'settling',
      attempts: 0,
      lastError: null,
      transferId: null,
      since: now,
      pendingSince: null,
      force: false,
    });
    this.#log.debug({ item: displayName(key), kind: signature.kind, bytes: signature.bytes }, 'new outbox item; waiting for it to settle');
  }

  /** A fresh look at an idle item: a changed signature restarts its stability clock. */
  #observe(item: Item, signature: ItemSignature, now: number): void {
    if (sameSignature(item.signature, signature)) return;
    item.signature = signature;
    item.changedAt = now;
    if (item.state !== 'settling') {
      this.#log.info({ item: displayName(item.key) }, 'outbox item changed; waiting for it to settle again');
      item.state = 'settling';
      item.force = false;
    }
  }

  #forget(item: Item): void {
    if (this.#items.get(item.key) !== item) return;
    this.#items.delete(item.key);
    this.#removed.set(item.key, this.#removals++);
  }

  #isBusy(key: string): boolean {
    const state = this.#items.get(key)?.state;
    return state === 'sending' || state === 'moving';
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
    if (![...this.#items.values()].some((item) => item.state === 'settling')) return;
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
    const settling = [...this.#items.values()].filter((item) => item.state === 'settling');
    await Promise.all(settling.map((item) => this.#settle(item)));
    this.#pump();
  }

  async #settle(item: Item): Promise<void> {
    let probe;
    try {
      probe = await probeItem(item.abs, { signal: this.#root.signal });
    } catch (err) {
      if (this.#root.signal.aborted) return;
      this.#warnOnce(`unreadable:${item.key}`, () => this.#log.warn({ err, item: displayName(item.key) }, 'cannot read an outbox item; it waits'));
      return;
    }
    if (this.#phase !== 'started' || this.#items.get(item.key) !== item || item.state !== 'settling') return;
    if (probe.type === 'gone') {
      this.#log.info({ item: displayName(item.key) }, 'removed from the outbox before it was sent');
      this.#forget(item);
      return;
    }
    if (probe.type === 'unsupported') {
      this.#warnOnce(`unsupported:${item.key}`, () => this.#log.warn({ item: displayName(item.key), what: probe.what }, 'not sent: only regular files and folders are'));
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
    const queued = [...this.#items.values()].filter((item) => item.state === 'queued').sort((a, b) => a.since - b.since);
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
        this.#send(item).finally(() => {
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

  async #send(item: Item): Promise<void> {
    const signal = this.#root.signal;
    // The item must still be what settled: a change since means settling again.
    let before;
    try {
      before = await probeItem(item.abs, { signal });
    } catch (err) {
      if (signal.aborted) return this.#unchanged(item);
      const e = toP2pdError(err, 'SOURCE_NOT_FOUND');
      return this.#transient(item, { ok: false, transferId: null, code: e.code, message: e.message });
    }
    if (before.type !== 'item') {
      this.#log.info({ item: displayName(item.key) }, 'removed from the outbox before it was sent');
      this.#forget(item);
      return;
    }
    if (!sameSignature(before.signature, item.signature)) {
      this.#observe(item, before.signature, this.#now()); // back to settling
      this.#scheduleTick();
      return;
    }

    this.#log.info({ item: displayName(item.key), peer: displayName(item.peer), kind: item.signature.kind, bytes: item.signature.bytes, attempt: item.attempts + 1 }, 'sending outbox item');
    let outcome: SendOutcome;
    try {
      outcome = await this.#sender.send(item.peer, [item.abs], { signal });
    } catch (err) {
      // The sender promises never to reject; be safe anyway.
      const e = toP2pdError(err);
      outcome = { ok: false, transferId: null, code: e.code, message: e.message };
    }
    if (outcome.transferId !== null) item.transferId = outcome.transferId;

    if (outcome.ok) {
      item.attempts++;
      await this.#delivered(item, before.signature);
      return;
    }
    // Interrupted by stop(): nothing changes, the item stays for the next start.
    if (signal.aborted) return this.#unchanged(item);
    item.attempts++;
    const code = isErrorCode(outcome.code) ? outcome.code : 'INTERNAL';
    item.lastError = { code, message: outcome.message };
    switch (classifyFailure(code)) {
      case 'changed':
        this.#log.info({ item: displayName(item.key), code }, 'outbox item changed while it was sent; it goes again once settled');
        item.state = 'settling';
        item.changedAt = this.#now();
        this.#scheduleTick();
        return;
      case 'permanent':
        await this.#giveUp(item, { kind: 'permanent' });
        return;
      case 'transient':
        this.#transient(item, outcome);
        if (this.#giveUpDue(item)) await this.#giveUp(item, { kind: 'gave-up', hours: this.#giveUpMs / HOUR_MS });
        return;
    }
  }

  #unchanged(item: Item): void {
    if (item.state === 'sending') item.state = 'queued';
  }

  #transient(item: Item, outcome: Extract<SendOutcome, { ok: false }>): void {
    item.state = 'retrying';
    item.lastError = { code: outcome.code, message: outcome.message };
    item.pendingSince ??= this.#now();
    const fields = { item: displayName(item.key), peer: displayName(item.peer), code: outcome.code, reason: displayName(outcome.message), attempts: item.attempts, transferId: outcome.transferId };
    if (outcome.code === 'PEER_IDENTITY_MISMATCH') {
      this.#log.warn(fields, 'outbox send: the peer presented another key than expected (a possible impostor); will retry');
    } else {
      this.#log.warn(fields, 'outbox send failed; will retry');
    }
  }

  /** After a verified delivery: move or delete the item, unless it changed during the send. */
  async #delivered(item: Item, sent: ItemSignature): Promise<void> {
    let after;
    try {
      after = await probeItem(item.abs);
    } catch (err) {
      this.#log.error({ err, item: displayName(item.key) }, 'delivered, but the outbox item cannot be read any more; it is not sent again while unchanged');
      this.#park(item, sent);
      return;
    }
    if (after.type === 'gone') {
      this.#log.info({ item: displayName(item.key), transferId: item.transferId }, 'delivered (the item has since been removed from the outbox)');
      this.#forget(item);
      return;
    }
    if (after.type !== 'item' || !sameSignature(after.signature, sent)) {
      this.#log.warn({ item: displayName(item.key), transferId: item.transferId }, 'delivered, but the item changed during the send: it stays and is sent again once settled');
      if (after.type === 'item') item.signature = after.signature;
      item.changedAt = this.#now();
      item.state = 'settling';
      this.#scheduleTick();
      return;
    }
    try {
      if (this.#afterSend === 'delete') {
        await deleteItem(this.#dir, item.peer, item.name);
        this.#log.info({ item: displayName(item.key), transferId: item.transferId }, 'delivered; deleted from the outbox');
      } else {
        const as = await moveToSent(this.#dir, item.peer, item.name, item.signature.kind);
        this.#log.info({ item: displayName(item.key), transferId: item.transferId, sentAs: displayName(`${SENT_DIR}/${item.peer}/${as}`) }, 'delivered; moved to .sent');
      }
      this.#forget(item);
    } catch (err) {
      this.#log.error({ err, item: displayName(item.key) }, `delivered, but cannot ${this.#afterSend} the item; it is not sent again while unchanged`);
      this.#park(item, sent);
    }
  }

  #park(item: Item, sent: ItemSignature): void {
    this.#forget(item);
    this.#parked.set(item.key, sent);
  }

  #giveUpDue(item: Item): boolean {
    return this.#giveUpMs > 0 && item.pendingSince !== null && this.#now() - item.pendingSince >= this.#giveUpMs;
  }

  /** Moves the item to .failed/<peer>/ with a note; if that fails it stays, retrying. */
  async #giveUp(item: Item, reason: GiveUpReason): Promise<void> {
    const error = item.lastError ?? { code: 'PEER_UNREACHABLE', message: 'the peer was not seen online in that time' };
    const note = failureNote({
      when: new Date(this.#now()),
      peer: item.peer,
      name: item.name,
      kind: item.signature.kind,
      bytes: item.signature.bytes,
      attempts: item.attempts,
      code: error.code,
      message: error.message,
      transferId: item.transferId,
      reason,
    });
    try {
      const as = await moveToFailed(this.#dir, item.peer, item.name, item.signature.kind, note, (err) =>
        this.#log.error({ err, item: displayName(item.key) }, 'cannot write the note next to a failed outbox item'),
      );
      this.#log.warn(
        { item: displayName(item.key), peer: displayName(item.peer), code: error.code, reason: displayName(error.message), attempts: item.attempts, movedTo: displayName(`${FAILED_DIR}/${item.peer}/${as}`) },
        reason.kind === 'permanent' ? 'outbox item cannot be delivered; moved to .failed' : 'gave up on an outbox item; moved to .failed',
      );
      this.#forget(item);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#forget(item);
        return;
      }
      this.#log.error({ err, item: displayName(item.key) }, 'cannot move an outbox item to .failed; it stays and is retried');
      item.state = 'retrying';
    }
  }

  // ── helpers ─────────────────────────────────────────────────────────────────────────────

  #isOnline(peer: string): boolean {
    try {
      return this.#sender.isOnline(peer);
    } catch (err) {
      this.#log.debug({ err, peer: displayName(peer) }, 'isOnline failed; taking the peer as offline');
      return false;
    }
  }

  #warnOnce(key: string, warn: () => void): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    warn();
  }
}

function itemKey(peer: string, name: string): string {
  return `${peer}/${name}`;
}

/** A single, visible, safe folder name: what a peer's name must be to get an outbox folder. */
export function isPeerFolderName(name: string): boolean {
  if (typeof name !== 'string' || name.length === 0 || isHidden(name)) return false;
  try {
    return checkRelativePath(name).length === 1;
  } catch {
    return false;
  }
}

function invalid(key: string, what: string): never {
  throw new P2pdError('CONFIG_INVALID', `${key} ${what}`, { details: { key } });
}
