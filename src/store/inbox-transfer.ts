/**
 * One incoming transfer in the inbox: the top-level folders it reserved (recorded so that a retry
 * reuses them), the directories it created, its open partial files, and placing each finished
 * file under a free name inside the inbox without following a symlink.
 */
import { lstat, mkdir, realpath, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, sep } from 'node:path';
import { P2pdError } from '../errors.js';
import { BLOCK_SIZE } from '../protocol/messages.js';
import type { PartialFile, PreparedTransfer } from '../transfer/ports.js';
import type { InboxLogger } from './inbox.js';
import { errnoOf, nameError, storeError } from './inbox-errors.js';
import { checkStillThere, createNew, openExisting, openOrCreate, readRecord, sameFile, writeRecord, type FileIdentity } from './inbox-guard.js';
import { DIGEST_BYTES, InboxPartialFile } from './inbox-partial-file.js';
import { DirectorySyncs, moveNoReplace, openDirectory } from './move-no-replace.js';
import { readRecordBytes, verifiedBlocks } from './kept-blocks.js';
import { saveSmallFile, type PlaceableFile } from './inbox-small-file.js';
import type { OfferPlan, PlannedEntry } from './offer-plan.js';
import { checkRelativePath, conflictName, displayName } from './safe-name.js';

/** How many " (n)" alternatives are tried before a name is given up as unusable. */
const MAX_CONFLICT_ATTEMPTS = 10_000;
/** A resume key: 40 hex digits (derived by the receiver from the sender's id and the file's id). */
const RESUME_KEY = /^[0-9a-f]{40}$/;

/** What a transfer needs from its inbox, resolved at start(). */
export interface InboxContext {
  readonly root: string;
  readonly partialDir: string;
  readonly logger: InboxLogger;
  readonly link: (existingPath: string, newPath: string) => Promise<void>;
  checkPartialDir(): Promise<void>;
  release(transfer: InboxTransfer): void;
  /** Resume keys whose partial file is open in a running transfer. */
  readonly resumeKeysInUse: Set<string>;
}

export class InboxTransfer implements PreparedTransfer {
  readonly transferId: string;
  readonly #context: InboxContext;
  readonly #plan: OfferPlan;
  /** Offer's top-level directory name → the name reserved for it in the inbox. */
  readonly #reserved = new Map<string, string>();
  /** Directories this transfer created (absolute paths); close() removes the empty ones. */
  readonly #createdDirs = new Set<string>();
  readonly #files = new Map<number, InboxPartialFile>();
  readonly #committed = new Set<number>();
  /** Small files being saved whole (saveSmallFile), by index: close() waits for them. */
  readonly #saving = new Map<number, Promise<string>>();
  /** Folders already walked and checked by place(), by their components. */
  readonly #parents = new Map<string, Promise<string>>();
  readonly #dirSyncs: DirectorySyncs;
  #closing: Promise<void> | undefined;
  /** Set once reserve() finished: only then can the transfer be complete. */
  #reservedAll = false;

  readonly #senderId: string;
  /** Resume key → the kept partial file resumeState() read and how much of it matched its journal. */
  readonly #verified = new Map<string, FileIdentity & { bytes: number }>();
  /** The folder inside the inbox the person chose (checked components), or none. */
  readonly #under: readonly string[];

  constructor(context: InboxContext, transferId: string, plan: OfferPlan, senderId: string, under: readonly string[] = []) {
    this.#context = context;
    this.transferId = transferId;
    this.#plan = plan;
    this.#senderId = senderId;
    this.#under = under;
    this.#dirSyncs = new DirectorySyncs(context.logger);
  }

  /** Where the offer's top-level entries land. */
  get #base(): string {
    return join(this.#context.root, ...this.#under);
  }

  /**
   * Where a retry of this transfer finds the folder names its first attempt reserved, so that the
   * rest of a tree lands next to what already arrived instead of in "photos (1)".
   */
  get #reservationPath(): string {
    const under = this.#under.length === 0 ? '' : `\0${this.#under.join('/')}`;
    const key = createHash('sha256').update(`${this.#senderId}\0${this.transferId}${under}`).digest('hex').slice(0, 40);
    return join(this.#context.partialDir, `t-${key}.json`);
  }

  async #previousReservations(): Promise<Map<string, string>> {
    try {
      const raw = JSON.parse(await readRecord(this.#reservationPath)) as Record<string, unknown>;
      const out = new Map<string, string>();
      for (const [top, name] of Object.entries(raw)) {
        if (typeof name !== 'string') continue;
        // The record is ours, but the names still go through the same checks as any other.
        const [checked] = checkRelativePath(name);
        if (checked !== name) continue;
        const info = await lstat(join(this.#base, name)).catch(() => undefined);
        if (info?.isDirectory() === true && !info.isSymbolicLink()) out.set(top, name);
      }
      return out;
    } catch {
      return new Map();
    }
  }

  /**
   * What an earlier attempt left for `key`: the data and the journal of its block digests, trusted
   * only as far as they agree. The kept data is read once and each complete block's digest compared
   * with the journal's; the answer stops at the first block that differs (someone or something
   * changed the file between attempts), so a resume never builds a "verified" file on it. Costs one
   * sequential read of what was kept (about a second per GiB here), far less than sending it again.
   */
  async resumeState(key: string): Promise<{ bytes: number; journal: Buffer } | null> {
    if (!RESUME_KEY.test(key) || this.#context.resumeKeysInUse.has(key)) return null;
    const base = join(this.#context.partialDir, `r-${key}`);
    await this.#context.checkPartialDir();
    const data = await openExisting(`${base}.part`, { write: false }).catch(() => undefined);
    if (data === undefined) return { bytes: 0, journal: Buffer.alloc(0) };
    try {
      const journal = await readRecordBytes(`${base}.blocks`);
      const blocks = await verifiedBlocks(data.handle, Math.min(Math.floor(data.info.size / BLOCK_SIZE), Math.floor(journal.length / DIGEST_BYTES)), journal);
      if (blocks * DIGEST_BYTES < journal.length || blocks * BLOCK_SIZE < data.info.size) {
        this.#context.logger.debug(
          { key, keptBytes: data.info.size, verifiedBytes: blocks * BLOCK_SIZE },
          'kept partial data trusted only up to its last verified block',
        );
      }
      this.#verified.set(key, { dev: data.info.dev, ino: data.info.ino, bytes: blocks * BLOCK_SIZE });
      return { bytes: blocks * BLOCK_SIZE, journal: journal.subarray(0, blocks * DIGEST_BYTES) };
    } finally {
      await data.handle.close();
    }
  }

  /** Reserves every top-level directory exclusively and creates the explicit directory entries. */
  async reserve(signal: AbortSignal): Promise<void> {
    const root = this.#context.root;
    const checkRunning = (): void => {
      signal.throwIfAborted();
      if (this.#closing !== undefined) throw new P2pdError('TRANSFER_CANCELLED', 'the inbox is stopping');
    };
    // The chosen folder is made like any other: one component at a time, never through a symlink.
    if (this.#under.length > 0 && (this.#plan.topDirs.size > 0 || this.#plan.fileCount > 0)) await this.#ensureDirectories(this.#under);
    const previous = this.#senderId === '' ? new Map<string, string>() : await this.#previousReservations();
    for (const [top, { explicitMode }] of this.#plan.topDirs) {
      checkRunning();
      const name = previous.get(top) ?? (await this.#reserveTopDir(top, explicitMode === undefined ? 0o777 : 0o700));
      this.#reserved.set(top, name);
    }
    if (this.#senderId !== '' && this.#reserved.size > 0) {
      await writeRecord(this.#reservationPath, JSON.stringify(Object.fromEntries(this.#reserved))).catch((err: unknown) => {
        this.#context.logger.warn({ err }, 'could not record the folder reservation (a retry may land in a new folder)');
      });
    }
    for (const { components, entry } of this.#plan.dirs) {
      checkRunning();
      const path = await this.#ensureDirectories(this.#mapped(components));
      if (this.#createdDirs.has(path)) {
        const handle = await openDirectory(path);
        try {
          await handle.chmod((entry.mode & 0o755) | 0o700);
        } finally {
          await handle.close();
        }
      }
    }
    this.#reservedAll = true;
    this.#context.logger.debug({ transferId: this.transferId, root, reserved: [...this.#reserved.values()].map((n) => displayName(n)) }, 'reserved');
  }

  async #reserveTopDir(top: string, mode: number): Promise<string> {
    for (let n = 0; n < MAX_CONFLICT_ATTEMPTS; n++) {
      const name = n === 0 ? top : conflictName(top, n, { keepExtension: false });
      const path = join(this.#base, name);
      try {
        await mkdir(path, { mode });
      } catch (err) {
        if (errnoOf(err) === 'EEXIST') continue;
        throw err;
      }
      this.#createdDirs.add(path);
      return name;
    }
    throw nameError('too-many-conflicts', `no free name for the folder "${displayName(top)}" in the inbox`);
  }

  /** The offer's components with the top-level directory replaced by its reserved name. */
  #mapped(components: readonly string[]): string[] {
    const reserved = this.#reserved.get(components[0]!);
    if (reserved === undefined) throw new P2pdError('INTERNAL', 'no reserved directory for an entry');
    return [...this.#under, reserved, ...components.slice(1)];
  }

  /**
   * Walks from the inbox root through `parts`, creating missing directories one at a time and
   * refusing any existing component that is a symlink or not a directory. Returns the last path.
   */
  async #ensureDirectories(parts: readonly string[]): Promise<string> {
    let path = this.#context.root;
    for (const part of parts) {
      path = join(path, part);
      let info = await lstat(path).catch((err: unknown) => {
        if (errnoOf(err) === 'ENOENT') return undefined;
        throw err;
      });
      if (info === undefined) {
        try {
          await mkdir(path, { mode: 0o777 });
          this.#createdDirs.add(path);
          continue;
        } catch (err) {
          if (errnoOf(err) !== 'EEXIST') throw err;
          info = await lstat(path);
        }
      }
      if (info.isSymbolicLink()) {
        throw nameError('symlink-in-path', `refusing to write through a symlink in the inbox: ${displayName(path)}`);
      }
      if (!info.isDirectory()) {
        throw nameError('not-a-directory', `a non-directory is in the way in the inbox: ${displayName(path)}`);
      }
    }
    return path;
  }

  /** The file entry at `index`, if it may be opened now (a file of this offer, not opened before). */
  #claim(index: number, signal: AbortSignal): PlannedEntry {
    signal.throwIfAborted();
    if (this.#closing !== undefined) throw new P2pdError('INTERNAL', `transfer ${this.transferId} is closed`);
    const planned = this.#plan.entry(index);
    if (planned === undefined || planned.entry.kind !== 'file') {
      throw new P2pdError('OFFER_INVALID', `entry ${index} is not a file of this offer`, { details: { reason: 'not-a-file-entry', index } });
    }
    if (this.#committed.has(index) || this.#files.has(index) || this.#saving.has(index)) {
      throw new P2pdError('OFFER_INVALID', `entry ${index} was already opened`, { details: { reason: 'file-already-open', index } });
    }
    return planned;
  }

  saveSmallFile(index: number, data: Buffer, options: { signal: AbortSignal }): Promise<string> {
    let planned: PlannedEntry;
    try {
      planned = this.#claim(index, options.signal);
      if (data.length > BLOCK_SIZE) throw new P2pdError('INTERNAL', 'only a file of one block or less is saved whole');
    } catch (err) {
      return Promise.reject(err);
    }
    const path = join(this.#context.partialDir, `${this.transferId}.${index}.part`);
    const saving = saveSmallFile({ checkPartialDir: () => this.#context.checkPartialDir(), place: (f) => this.place(f) }, planned, path, data, options.signal);
    this.#saving.set(index, saving);
    const done = (): void => void this.#saving.delete(index);
    saving.then(done, done);
    return saving;
  }

  async openFile(index: number, options: { signal: AbortSignal; resumeKey?: string; offset?: number }): Promise<PartialFile> {
    const planned = this.#claim(index, options.signal);
    const key = options.resumeKey;
    const offset = options.offset ?? 0;
    if (key !== undefined && (!RESUME_KEY.test(key) || this.#context.resumeKeysInUse.has(key))) {
      throw new P2pdError('INTERNAL', 'that resumable partial file is in use');
    }
    if (key === undefined && offset !== 0) throw new P2pdError('INTERNAL', 'an offset needs a resume key');
    const path = join(this.#context.partialDir, key === undefined ? `${this.transferId}.${index}.part` : `r-${key}.part`);
    let handle: FileHandle;
    let identity: FileIdentity | undefined;
    let journal: FileHandle | undefined;
    try {
      await this.#context.checkPartialDir();
      if (key === undefined) {
        handle = await createNew(path);
      } else {
        // A kept partial file continues at `offset`, which resumeState() verified on this very file;
        // anything after it (a torn last block, unverified data) goes.
        const verified = this.#verified.get(key);
        if (offset > 0 && (verified === undefined || offset > verified.bytes)) throw new P2pdError('INTERNAL', 'a resume offset beyond the verified data');
        ({ handle, info: identity } = offset === 0 ? await openOrCreate(path) : await openExisting(path, { write: true }));
        if (offset > 0 && !sameFile(identity!, verified!)) {
          await handle.close();
          throw new P2pdError('INBOX_UNWRITABLE', 'the kept partial file was replaced after it was verified', { details: { reason: 'replaced' } });
        }
        await handle.truncate(offset);
        journal = (await openOrCreate(`${path.slice(0, -'.part'.length)}.blocks`)).handle;
        await journal.truncate((offset / BLOCK_SIZE) * DIGEST_BYTES);
      }
    } catch (err) {
      throw storeError(err, 'creating a partial file');
    }
    if (key !== undefined) this.#context.resumeKeysInUse.add(key);
    const file = new InboxPartialFile(
      this,
      planned,
      identity === undefined ? { path, handle } : { path, handle, identity },
      key === undefined ? undefined : { key, journal: journal!, offset },
    );
    this.#files.set(index, file);
    return file;
  }

  /** Moves a finished partial file to its final name; returns the path relative to the inbox. */
  async place(file: PlaceableFile): Promise<string> {
    const { components } = file.planned;
    const parentParts = components.length === 1 ? [...this.#under] : this.#mapped(components.slice(0, -1));
    // What gets a name in the inbox is the file written, not whatever now sits at the partial's
    // name: the very inode (device, inode) that was written and synced, in the directory checked
    // at start (whose only writer is the daemon's user).
    await checkStillThere(file.partialPath, file.identity);
    try {
      return await this.#link(file, parentParts, await this.#checkedParent(parentParts));
    } catch (err) {
      // The folder went away since it was checked (someone tidied the inbox): walk it again.
      if (errnoOf(err) !== 'ENOENT') throw err;
      this.#parents.delete(parentParts.join('/'));
      return this.#link(file, parentParts, await this.#checkedParent(parentParts));
    }
  }

  async #link(file: PlaceableFile, parentParts: readonly string[], parent: string): Promise<string> {
    const { components } = file.planned;
    const base = components[components.length - 1]!;
    for (let n = 0; n < MAX_CONFLICT_ATTEMPTS; n++) {
      const name = n === 0 ? base : conflictName(base, n);
      if (await moveNoReplace(this.#context.link, this.#context.logger, file.partialPath, join(parent, name))) {
        await this.#dirSyncs.sync(parent);
        this.#committed.add(file.planned.index);
        return [...parentParts, name].join('/');
      }
    }
    throw nameError('too-many-conflicts', `no free name for "${displayName(base)}" in the inbox`);
  }

  /** A file's folder, walked and checked once per transfer, not per file: only the daemon's user
   * can write in the inbox (checked at start), so nobody else can swap a checked folder. */
  #checkedParent(parentParts: readonly string[]): Promise<string> {
    const key = parentParts.join('/');
    let checked = this.#parents.get(key);
    if (checked === undefined) {
      checked = (async () => {
        const parent = await this.#ensureDirectories(parentParts);
        const root = this.#context.root;
        const parentReal = await realpath(parent);
        if (parentReal !== root && !parentReal.startsWith(root + sep)) {
          throw nameError('outside-inbox', `refusing to write outside the inbox: ${displayName(parent)}`);
        }
        return parent;
      })();
      this.#parents.set(key, checked);
      // A failure is not remembered: the next file tries again and gets its own answer.
      checked.catch(() => this.#parents.delete(key));
    }
    return checked;
  }

  releaseResumeKey(key: string): void {
    this.#context.resumeKeysInUse.delete(key);
  }

  forget(file: InboxPartialFile): void {
    if (this.#files.get(file.planned.index) === file) this.#files.delete(file.planned.index);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await Promise.allSettled([...this.#files.values()].map((file) => file.keep()));
    await Promise.allSettled(this.#saving.values());
    if (!this.#reservedAll || this.#committed.size < this.#plan.fileCount) {
      // Incomplete: take back the directories this transfer made that stayed empty, deepest first.
      // A complete transfer keeps its empty directories: the sender meant them.
      const dirs = [...this.#createdDirs].sort((a, b) => b.split(sep).length - a.split(sep).length);
      for (const dir of dirs) {
        await rmdir(dir).catch((err: unknown) => {
          const code = errnoOf(err);
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT' && code !== 'ENOTDIR') {
            this.#context.logger.warn({ err, dir }, 'could not remove an empty directory');
          }
        });
      }
    }
    await this.#forgetReservationUnlessNeeded();
    this.#context.release(this);
  }

  /** The reservation record serves a retry of an unfinished transfer whose folders still exist. */
  async #forgetReservationUnlessNeeded(): Promise<void> {
    if (this.#senderId === '' || this.#reserved.size === 0) return;
    const complete = this.#reservedAll && this.#committed.size >= this.#plan.fileCount;
    let needed = false;
    if (!complete) {
      for (const name of this.#reserved.values()) {
        if ((await lstat(join(this.#base, name)).catch(() => undefined))?.isDirectory() === true) needed = true;
      }
    }
    if (!needed) await unlink(this.#reservationPath).catch(() => undefined);
  }
}
