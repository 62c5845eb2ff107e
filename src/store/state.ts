/**
 * The daemon's own state under stateDir: trusted peers, transfer history and the send queue, in
 * state.json (tab-indented JSON, mode 0600).
 *
 * Every read is served from memory; the file is read once, at construction. Writes go to disk in
 * the background: a temporary file in the same directory, fsync, rename over state.json, fsync of
 * the directory, one write at a time. So a kill at any moment leaves the old or the new file,
 * never a mixture. History and the send queue change per transfer, so their writes are debounced
 * (a crash loses at most the last `debounceMs` of them); trust changes are written at once, and
 * `flush()` resolves when they are on disk. A damaged file is set aside, reported, and the daemon
 * starts afresh.
 *
 * The store writes the file itself rather than through `conf`: conf re-reads and re-parses the
 * file on every get and writes it synchronously on every set, which is exactly the per-transfer
 * cost this store exists to avoid, and it has no debounced or asynchronous mode. The file keeps
 * the layout conf gave it, so files written by earlier versions load unchanged.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { P2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Service } from '../lifecycle.js';
import type { HistoryStore, TransferRecord } from '../transfer/records.js';

export interface TrustedPeer {
  id: string;
  /** The name the user knows the peer by (the name it had when trusted). */
  name: string;
  trustedAt: string;
}

/** A send that has not ended yet, kept so that it survives a restart of the daemon. */
export interface QueuedSend {
  id: string;
  /** What the user typed for the peer. */
  peer: string;
  /** Absolute paths. */
  paths: string[];
  createdAt: string;
}

/** A named set of peers to send to at once (`p2pd group`, `p2pd send --group`, `outbox/@group/`). */
export interface PeerGroup {
  name: string;
  /** Peer ids, resolved when added: a name is never stored, so a renamed or impostor peer cannot join. */
  members: string[];
  createdAt: string;
}

/** Which members of a group already have an outbox item (`outbox/@group/…`), kept across restarts. */
export interface GroupDelivery {
  /** The item as the members got it (kind, entries, bytes, newest mtime): a changed item starts over. */
  signature: { kind: 'file' | 'dir'; entries: number; bytes: number; mtimeMs: number } | null;
  /** Ids of the members that have it. */
  done: string[];
}

interface StateShape {
  trusted: Record<string, TrustedPeer>;
  /** Absent in files written before groups existed. */
  groups?: Record<string, PeerGroup>;
  /** By the item's absolute path; absent in files written before it existed. */
  groupDeliveries?: Record<string, GroupDelivery>;
  history: TransferRecord[];
  queue: QueuedSend[];
  /** Keys this version does not know are kept as they were. */
  [other: string]: unknown;
}

const FILE_MODE = 0o600;
const DEFAULT_DEBOUNCE_MS = 500;

export interface StateStoreOptions {
  dir: string;
  historySize: number;
  /** How long history and queue changes may wait before they are written; 500 ms by default. */
  debounceMs?: number;
}

export class StateStore implements HistoryStore, Service {
  readonly name = 'state';
  readonly #log: Logger;
  readonly #dir: string;
  readonly #file: string;
  readonly #historySize: number;
  readonly #debounceMs: number;
  #data: StateShape;
  /** Changed in memory since the last write began. */
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  /** The write in progress (or the last one); each write waits for the one before. */
  #chain: Promise<void> = Promise.resolve();
  #writes = 0;
  /** No file was read (none, or a damaged one set aside): start() writes one. */
  #fresh: boolean;

  constructor(deps: { logger: Logger }, options: StateStoreOptions) {
    this.#log = deps.logger;
    this.#dir = options.dir;
    this.#file = join(options.dir, 'state.json');
    this.#historySize = options.historySize;
    this.#debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    mkdirSync(this.#dir, { recursive: true });
    let loaded: StateShape | undefined;
    try {
      loaded = this.#load();
    } catch (err) {
      this.#setAside(err);
    }
    this.#data = loaded ?? { trusted: {}, history: [], queue: [] };
    this.#fresh = loaded === undefined;
  }

  /** A write cut short by a crash leaves its temporary file; it never becomes the state. */
  #removeTemporaries(): void {
    for (const name of readdirSync(this.#dir)) {
      if (!name.startsWith('state.json.tmp-')) continue;
      try {
        unlinkSync(join(this.#dir, name));
      } catch {
        // Another file system's rules or a race with a cleaner: harmless, it is never read.
      }
    }
  }

  /** Reads state.json; undefined when there is none; throws when it is damaged. */
  #load(): StateShape | undefined {
    let text: string;
    try {
      text = readFileSync(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('state.json has the wrong shape');
    const data = { trusted: {}, history: [], queue: [], ...(parsed as Record<string, unknown>) } as StateShape;
    const { trusted, history } = data;
    if (typeof trusted !== 'object' || trusted === null || Array.isArray(trusted) || !Array.isArray(history)) {
      throw new Error('state.json has the wrong shape');
    }
    return data;
  }

  #setAside(err: unknown): void {
    const file = this.#file;
    const aside = `${file}.corrupt-${Date.now()}`;
    if (existsSync(file)) renameSync(file, aside);
    const e = new P2pdError('STATE_CORRUPT', `${file} was damaged; it was moved to ${aside} and the daemon starts with no trusted peers and no history`, {
      cause: err,
      details: { file, aside },
    });
    this.#log.error({ code: e.code, err: (err as Error).message }, e.message);
  }

  get path(): string {
    return this.#file;
  }

  /** How many times the file has been written (for tests and measurements). */
  get writes(): number {
    return this.#writes;
  }

  /**
   * Takes the file over: removes what crashed writes left and writes a new file soon if there was
   * none. Reads work before start(); the daemon calls it once it holds the single-instance lock,
   * so a second daemon that fails to start never touches the running one's file.
   */
  async start(_options: { signal: AbortSignal }): Promise<void> {
    this.#removeTemporaries();
    if (this.#fresh) this.#changed();
    this.#fresh = false;
  }

  /** Writes what is pending and waits for it. Safe to call more than once. */
  async stop(): Promise<void> {
    await this.flush();
  }

  trusted(): TrustedPeer[] {
    return Object.values(this.#data.trusted);
  }

  getTrusted(id: string): TrustedPeer | undefined {
    return this.#data.trusted[id];
  }

  /** Written at once: `await flush()` to know it is on disk. */
  trust(peer: { id: string; name: string }): TrustedPeer {
    const old = this.#data.trusted[peer.id];
    const record: TrustedPeer = old === undefined ? { id: peer.id, name: peer.name, trustedAt: new Date().toISOString() } : { ...old, name: peer.name };
    this.#data.trusted = { ...this.#data.trusted, [peer.id]: record };
    this.#changed({ now: true });
    return record;
  }

  /** Written at once: `await flush()` to know it is on disk. */
  untrust(id: string): boolean {
    if (this.#data.trusted[id] === undefined) return false;
    const all = { ...this.#data.trusted };
    delete all[id];
    this.#data.trusted = all;
    this.#changed({ now: true });
    return true;
  }

  groups(): PeerGroup[] {
    const g = this.#data.groups;
    return typeof g === 'object' && g !== null ? Object.values(g) : [];
  }

  getGroup(name: string): PeerGroup | undefined {
    return this.groups().find((g) => g.name === name);
  }

  /** Replaces (or creates) a group; an empty member list removes it. Written at once. */
  setGroup(name: string, members: readonly string[]): PeerGroup | undefined {
    const all = Object.fromEntries(this.groups().map((g) => [g.name, g]));
    const old = all[name];
    delete all[name];
    const unique = [...new Set(members)];
    const group = unique.length === 0 ? undefined : { name, members: unique, createdAt: old?.createdAt ?? new Date().toISOString() };
    if (group !== undefined) all[name] = group;
    this.#data.groups = all;
    this.#changed({ now: true });
    return group;
  }

  groupDelivery(path: string): GroupDelivery | undefined {
    const all = this.#data.groupDeliveries;
    const d = typeof all === 'object' && all !== null && Object.hasOwn(all, path) ? all[path] : undefined;
    return d === undefined ? undefined : { signature: d.signature, done: [...d.done] };
  }

  /**
   * Records which members have an item, or forgets the item (`undefined`). Written at once: a
   * member that has the item must not get it a second time after a crash.
   */
  setGroupDelivery(path: string, delivery: GroupDelivery | undefined): void {
    const all = { ...(this.#data.groupDeliveries ?? {}) };
    if (delivery === undefined) {
      if (!Object.hasOwn(all, path)) return;
      delete all[path];
    } else {
      all[path] = { signature: delivery.signature, done: [...delivery.done] };
    }
    this.#data.groupDeliveries = all;
    this.#changed({ now: true });
  }

  add(view: TransferRecord): void {
    if (this.#historySize === 0) return;
    // Keep the history file small: of a finished transfer's files, only a few failures are kept.
    const failures = (view.files ?? []).filter((f) => !f.ok).slice(0, 20);
    const slim: TransferRecord = { ...view, files: failures };
    if (failures.length === 0) delete slim.files;
    const history = this.#data.history;
    const at = history.findIndex((v) => v.id === view.id);
    if (at !== -1) history.splice(at, 1);
    history.unshift(slim);
    if (history.length > this.#historySize) history.length = this.#historySize;
    this.#changed();
  }

  /** A copy: callers may keep it while the history changes. */
  list(): TransferRecord[] {
    return [...this.#data.history];
  }

  queued(): QueuedSend[] {
    const q = this.#data.queue;
    return Array.isArray(q) ? [...q] : [];
  }

  enqueue(entry: QueuedSend): void {
    this.#data.queue = [...this.queued().filter((e) => e.id !== entry.id), entry];
    this.#changed();
  }

  dequeue(id: string): void {
    const q = this.queued();
    if (!q.some((e) => e.id === id)) return;
    this.#data.queue = q.filter((e) => e.id !== id);
    this.#changed();
  }

  /** Drops finished transfers that ended (or started) more than `olderThanMs` ago; returns how many. */
  prune(options: { olderThanMs: number; now?: number }): number {
    const cutoff = (options.now ?? Date.now()) - options.olderThanMs;
    const history = this.#data.history;
    const kept = history.filter((v) => Date.parse(v.endedAt ?? v.startedAt) >= cutoff);
    if (kept.length !== history.length) {
      this.#data.history = kept;
      this.#changed();
    }
    return history.length - kept.length;
  }

  /**
   * Writes every change made so far and resolves when it is on disk (or rejects if the write
   * failed; the change stays pending and is tried again with the next one).
   */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const run = this.#chain.catch(() => undefined).then(() => this.#writeIfDirty());
    this.#chain = run;
    return run;
  }

  #changed(options: { now?: boolean } = {}): void {
    this.#dirty = true;
    if (options.now === true) {
      // A failure is logged by the write; a caller that awaits flush() sees it too.
      this.flush().catch(() => undefined);
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch(() => undefined);
    }, this.#debounceMs);
    // stop() flushes; a process that exits without it loses at most this window anyway.
    this.#timer.unref();
  }

  async #writeIfDirty(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    const text = JSON.stringify(this.#data, undefined, '\t');
    try {
      await this.#writeAtomically(text);
      this.#writes++;
    } catch (err) {
      this.#dirty = true;
      this.#log.warn({ err: (err as Error).message, file: this.#file }, 'could not write the state file; will try again with the next change');
      throw err;
    }
  }

  async #writeAtomically(text: string): Promise<void> {
    const tmp = `${this.#file}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      const fh = await open(tmp, 'wx', FILE_MODE);
      try {
        await fh.writeFile(text, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.#file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    // The rename itself is durable only once the directory is; some file systems cannot fsync a
    // directory, and the file is already in place, so that failure is not an error.
    try {
      const dir = await open(this.#dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch {
      // see above
    }
  }
}
