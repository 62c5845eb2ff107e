/**
 * The outbox's items in memory: each item's life (state, attempts, last error), the items that
 * were delivered but could not be moved away ("parked"), the items removed while a scan ran, and
 * the `change` notifications that let a watcher follow queue() without polling.
 */
import type { OutboxItemState, OutboxItemView } from './ports.js';
import { sameSignature, type ItemSignature } from './signature.js';

/** 'moving': on its way to .failed/ outside a send; shown as 'retrying'. */
export type InternalState = OutboxItemState | 'moving';

/** One item of queue() appeared, changed or went away; `item` is its view (the last one for 'removed'). */
export interface OutboxChange {
  type: 'added' | 'changed' | 'removed';
  item: OutboxItemView;
}

/**
 * One top-level entry of a peer folder. The fields queue() shows are accessors, so that every
 * assignment (`item.state = 'queued'`) tells the table, wherever in the outbox it happens.
 */
export class OutboxItem {
  readonly key: string;
  readonly peer: string;
  readonly name: string;
  readonly abs: string;
  readonly since: number;
  /** When the signature was last seen to change (or first seen). */
  changedAt: number;
  /** When the item was first ready but could not be delivered (peer offline or a failure). */
  pendingSince: number | null = null;
  /** peerOnline() asked for an attempt: skip the isOnline() check once. */
  force = false;
  #signature: ItemSignature;
  #state: InternalState = 'settling';
  #attempts = 0;
  #lastError: { code: string; message: string } | null = null;
  #transferId: string | null = null;
  readonly #touched: (item: OutboxItem) => void;

  constructor(fields: { peer: string; name: string; abs: string; signature: ItemSignature; now: number }, touched: (item: OutboxItem) => void) {
    this.key = itemKey(fields.peer, fields.name);
    this.peer = fields.peer;
    this.name = fields.name;
    this.abs = fields.abs;
    this.#signature = fields.signature;
    this.changedAt = fields.now;
    this.since = fields.now;
    this.#touched = touched;
  }

  get signature(): ItemSignature {
    return this.#signature;
  }
  set signature(value: ItemSignature) {
    this.#signature = value;
    this.#touched(this);
  }
  get state(): InternalState {
    return this.#state;
  }
  set state(value: InternalState) {
    this.#state = value;
    this.#touched(this);
  }
  get attempts(): number {
    return this.#attempts;
  }
  set attempts(value: number) {
    this.#attempts = value;
    this.#touched(this);
  }
  get lastError(): { code: string; message: string } | null {
    return this.#lastError;
  }
  set lastError(value: { code: string; message: string } | null) {
    this.#lastError = value;
    this.#touched(this);
  }
  get transferId(): string | null {
    return this.#transferId;
  }
  set transferId(value: string | null) {
    this.#transferId = value;
    this.#touched(this);
  }

  /** The item as queue() and `p2pd status --json` show it. */
  view(): OutboxItemView {
    return {
      peer: this.peer,
      path: this.key,
      kind: this.#signature.kind,
      bytes: this.#signature.bytes,
      state: this.#state === 'moving' ? 'retrying' : this.#state,
      attempts: this.#attempts,
      lastError: this.#lastError === null ? null : { ...this.#lastError },
      transferId: this.#transferId,
      since: new Date(this.since).toISOString(),
    };
  }
}

export function itemKey(peer: string, name: string): string {
  return `${peer}/${name}`;
}

export class ItemTable {
  readonly #items = new Map<string, OutboxItem>();
  /**
   * Delivered items that could not be moved out of the outbox, with the signature they were sent
   * with: not sent again while unchanged (until a restart).
   */
  readonly parked = new Map<string, ItemSignature>();
  /** Items removed, by the scan sequence number, so a scan that started earlier does not bring them back. */
  readonly #removed = new Map<string, number>();
  #removals = 0;
  /** What the last notification said about each key, to tell a real change from a repeated value. */
  readonly #shown = new Map<string, { view: OutboxItemView; json: string }>();
  readonly #dirty = new Set<string>();
  #flushQueued = false;
  readonly #onChange: (change: OutboxChange) => void;

  constructor(onChange: (change: OutboxChange) => void) {
    this.#onChange = onChange;
  }

  get size(): number {
    return this.#items.size;
  }

  get(key: string): OutboxItem | undefined {
    return this.#items.get(key);
  }

  /** A copy, so that callers may forget items while they walk it. */
  values(): OutboxItem[] {
    return [...this.#items.values()];
  }

  add(fields: { peer: string; name: string; abs: string; signature: ItemSignature; now: number }): OutboxItem {
    const item = new OutboxItem(fields, (changed) => this.#touch(changed.key));
    this.#items.set(item.key, item);
    this.#touch(item.key);
    return item;
  }

  /** Drops the item (if it is still the table's) and remembers when, for scans already running. */
  forget(item: OutboxItem): void {
    if (this.#items.get(item.key) !== item) return;
    this.#items.delete(item.key);
    this.#removed.set(item.key, this.#removals++);
    this.#touch(item.key);
  }

  /** Forgets the item but keeps its sent signature: an unchanged item is not sent again. */
  park(item: OutboxItem, sent: ItemSignature): void {
    this.forget(item);
    this.parked.set(item.key, sent);
  }

  isBusy(key: string): boolean {
    const state = this.#items.get(key)?.state;
    return state === 'sending' || state === 'moving';
  }

  /** The sequence number the next removal gets: a scan notes it when it starts. */
  get removals(): number {
    return this.#removals;
  }

  /** Whether the item was removed after a scan that started at `startedAt` began. */
  removedSince(key: string, startedAt: number): boolean {
    return (this.#removed.get(key) ?? -1) >= startedAt;
  }

  /** Scans run one at a time: whatever was removed before one ended cannot confuse the next. */
  clearRemoved(): void {
    this.#removed.clear();
  }

  /**
   * Notes the key and tells listeners once the current burst of assignments is over, so that one
   * step of an item (state, error and attempts set together) is one notification.
   */
  #touch(key: string): void {
    this.#dirty.add(key);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    const keys = [...this.#dirty];
    this.#dirty.clear();
    for (const key of keys) {
      const item = this.#items.get(key);
      const shown = this.#shown.get(key);
      if (item === undefined) {
        if (shown === undefined) continue;
        this.#shown.delete(key);
        this.#onChange({ type: 'removed', item: shown.view });
        continue;
      }
      const view = item.view();
      const json = JSON.stringify(view);
      if (shown?.json === json) continue;
      this.#shown.set(key, { view, json });
      this.#onChange({ type: shown === undefined ? 'added' : 'changed', item: view });
    }
  }
}

/** A fresh look at an idle item: a changed signature restarts its stability clock. Returns whether it went back to settling. */
export function observeSignature(item: OutboxItem, signature: ItemSignature, now: number): boolean {
  if (sameSignature(item.signature, signature)) return false;
  item.signature = signature;
  item.changedAt = now;
  if (item.state === 'settling') return false;
  item.state = 'settling';
  item.force = false;
  return true;
}
