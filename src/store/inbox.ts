/**
 * The receiving store: files from peers land in one inbox directory and nowhere else.
 *
 * Data is written to `<inbox>/.p2pd-partial/<transferId>.<index>.part` (created exclusively, 0600)
 * and moves to its final name only at commit, after fsync, with a hard link that never replaces an
 * existing name. A top-level directory of an offer is reserved with an exclusive mkdir ("photos",
 * else "photos (1)", ...), so two transfers never share one; a top-level file picks a free name at
 * commit. Parent directories are created and checked one component at a time with lstat, and the
 * parent's realpath must lie inside the inbox's: a symlink found on the way fails the file with
 * NAME_INVALID (details.reason "symlink-in-path", "not-a-directory" or "outside-inbox"), it is never
 * followed. No symlink is ever created.
 *
 * Limits of what Node offers: without openat(2)/O_NOFOLLOW on every component, someone who can
 * write inside the inbox could swap a checked directory for a symlink between our check and our
 * link(2). The inbox should therefore belong to the daemon's user and not be writable by others
 * (start() creates it 0700); the realpath check just before the move narrows the window.
 */
import { constants as fsConstants } from 'node:fs';
import type { WriteStream } from 'node:fs';
import {
  access,
  link as fsLink,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join, resolve, sep } from 'node:path';
import { P2pdError, isAbortError, toP2pdError } from '../errors.js';
import { BLOCK_SIZE, type OfferEntry } from '../protocol/messages.js';
import type { InboxStore, PartialFile, PreparedTransfer, SenderInfo } from '../transfer/ports.js';
import { checkTransferId, planOffer, type OfferPlan, type PlannedEntry } from './offer-plan.js';
import { PARTIAL_DIR_NAME, checkRelativePath, conflictName, displayName } from './safe-name.js';

export interface InboxLogger {
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface InboxDeps {
  logger?: InboxLogger;
  /**
   * link(2) as the store uses it; tests replace it to act like a file system without hard links.
   * Defaults to fs.promises.link.
   */
  link?: (existingPath: string, newPath: string) => Promise<void>;
}

export interface InboxOptions {
  /** The inbox directory; created (0700) at start when missing. */
  dir: string;
  /** Largest file accepted, bytes; 0 or absent = no limit. */
  maxFileSize?: number;
}

/** How many " (n)" alternatives are tried before a name is given up as unusable. */
const MAX_CONFLICT_ATTEMPTS = 10_000;
/** Bytes buffered before write() asks the receiver to wait: several MiB keeps the disk busy while
 * the next data arrives, and stays small next to the memory budget. */
/** Names in the partial directory that outlive a daemon restart: resumable data, journals, reservations. */
const RESUMABLE_NAME = /^[rt]-[0-9a-f]{40}\./;
/** A resume key: 40 hex digits (derived by the receiver from the sender's id and the file's id). */
const RESUME_KEY = /^[0-9a-f]{40}$/;
const DIGEST_BYTES = 32;

const WRITE_HIGH_WATER_MARK = 8 * 1024 * 1024;
/** Errors of link(2) on file systems without hard links (FAT, exFAT, some network mounts). */
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS']);
const OPEN_DIR_FLAGS = fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW;

const silentLogger: InboxLogger = { warn() {}, debug() {} };

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Maps a file-system error to the store's codes; P2pdErrors and aborts pass through. */
function storeError(err: unknown, what: string): P2pdError {
  if (err instanceof P2pdError || isAbortError(err)) return toP2pdError(err);
  const code = errnoOf(err);
  switch (code) {
    case undefined:
      return toP2pdError(err);
    case 'ENOSPC':
    case 'EDQUOT':
      return new P2pdError('DISK_FULL', `no space left in the inbox while ${what}`, { cause: err, details: { errno: code } });
    case 'ENAMETOOLONG':
    case 'EILSEQ':
      return new P2pdError('NAME_INVALID', `the inbox's file system refuses the name while ${what} (${code})`, {
        cause: err,
        details: { reason: 'refused-by-file-system', errno: code },
      });
    default:
      return new P2pdError('INBOX_UNWRITABLE', `cannot write in the inbox while ${what} (${code}); check that it exists and that the daemon's user owns it`, {
        cause: err,
        details: { errno: code },
      });
  }
}

function nameError(reason: string, message: string): P2pdError {
  return new P2pdError('NAME_INVALID', message, { details: { reason } });
}

/** Opens a directory without following a symlink at its last component. */
async function openDirectory(path: string): Promise<FileHandle> {
  return open(path, OPEN_DIR_FLAGS);
}

/** Destroys a write stream (which also closes its FileHandle) and waits until it is closed. */
function closeStream(stream: WriteStream): Promise<void> {
  return new Promise((resolvePromise) => {
    if (stream.closed) {
      resolvePromise();
      return;
    }
    stream.once('close', () => resolvePromise());
    stream.destroy();
  });
}

/** What a transfer needs from its inbox, resolved at start(). */
interface InboxContext {
  readonly root: string;
  readonly partialDir: string;
  readonly logger: InboxLogger;
  readonly link: (existingPath: string, newPath: string) => Promise<void>;
  checkPartialDir(): Promise<void>;
  release(transfer: InboxTransfer): void;
  /** Resume keys whose partial file is open in a running transfer. */
  readonly resumeKeysInUse: Set<string>;
}

export class Inbox implements InboxStore {
  readonly #logger: InboxLogger;
  readonly #link: (existingPath: string, newPath: string) => Promise<void>;
  readonly #dir: string;
  readonly #maxFileSize: number;
  #context: InboxContext | undefined;
  readonly #transfers = new Map<string, InboxTransfer>();

  constructor(deps: InboxDeps, options: InboxOptions) {
    if (typeof options.dir !== 'string' || options.dir.length === 0) {
      throw new P2pdError('CONFIG_INVALID', 'inbox: a directory is required', { details: { key: 'inbox' } });
    }
    const maxFileSize = options.maxFileSize ?? 0;
    if (!Number.isSafeInteger(maxFileSize) || maxFileSize < 0) {
      throw new P2pdError('CONFIG_INVALID', 'limits.maxFileSize must be a whole number of bytes, 0 for no limit', {
        details: { key: 'limits.maxFileSize' },
      });
    }
    this.#logger = deps.logger ?? silentLogger;
    this.#link = deps.link ?? fsLink;
    this.#dir = resolve(options.dir);
    this.#maxFileSize = maxFileSize;
  }

  /** The inbox's real path once started (symlinks in the configured path resolved). */
  get root(): string | undefined {
    return this.#context?.root;
  }

  /**
   * Creates the inbox (0700) when missing and its partial directory (0700), removes partial files
   * left by an earlier run, and checks that the inbox is writable. Throws INBOX_UNWRITABLE or
   * DISK_FULL with a message that says what to do.
   */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    const signal = options.signal;
    signal?.throwIfAborted();
    if (this.#context !== undefined) return;
    const dir = this.#dir;
    const unusable = (err: unknown, what: string): P2pdError => {
      if (err instanceof P2pdError) return err;
      const mapped = storeError(err, what);
      if (mapped.code !== 'INBOX_UNWRITABLE') return mapped;
      return new P2pdError(
        'INBOX_UNWRITABLE',
        `the inbox ${dir} is not usable (${what}: ${errnoOf(err) ?? mapped.message}); ` +
          'make it a directory the daemon\'s user owns and can write, or set "inbox" in the config to one',
        { cause: err, details: { dir, errno: errnoOf(err) } },
      );
    };

    let root: string;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const info = await stat(dir);
      if (!info.isDirectory()) {
        throw new P2pdError('INBOX_UNWRITABLE', `the inbox ${dir} is not a directory; remove it or set "inbox" in the config to a directory`, {
          details: { dir },
        });
      }
      root = await realpath(dir);
      await access(root, fsConstants.W_OK | fsConstants.X_OK);
    } catch (err) {
      throw unusable(err, 'opening the inbox');
    }
    signal?.throwIfAborted();

    const partialDir = join(root, PARTIAL_DIR_NAME);
    try {
      await mkdir(partialDir, { mode: 0o700 }).catch((err: unknown) => {
        if (errnoOf(err) !== 'EEXIST') throw err;
      });
      const info = await lstat(partialDir);
      if (!info.isDirectory()) {
        throw new P2pdError(
          'INBOX_UNWRITABLE',
          `${partialDir} is not a directory (${info.isSymbolicLink() ? 'a symlink' : 'a file'}); remove it so p2pd can keep partial files there`,
          { details: { dir: partialDir } },
        );
      }
      if ((info.mode & 0o777) !== 0o700) {
        const handle = await openDirectory(partialDir);
        try {
          await handle.chmod(0o700);
        } finally {
          await handle.close();
        }
      }
    } catch (err) {
      throw unusable(err, `creating ${PARTIAL_DIR_NAME}`);
    }

    try {
      // Resumable partial files (r-*) and folder reservations (t-*) are kept for the next attempt;
      // anything else is a plain partial of a transfer that cannot continue.
      const leftovers = (await readdir(partialDir)).filter((name) => !RESUMABLE_NAME.test(name));
      for (const name of leftovers) await rm(join(partialDir, name), { recursive: true, force: true });
      if (leftovers.length > 0) this.#logger.warn({ count: leftovers.length }, 'removed partial files left by an earlier run');
      const probe = join(partialDir, `.probe-${randomBytes(8).toString('hex')}`);
      const handle = await open(probe, 'wx', 0o600);
      try {
        await handle.write(Buffer.from('p2pd'));
      } finally {
        await handle.close();
        await unlink(probe);
      }
    } catch (err) {
      throw unusable(err, 'writing a test file');
    }
    signal?.throwIfAborted();

    const transfers = this.#transfers;
    this.#context = {
      root,
      partialDir,
      logger: this.#logger,
      link: this.#link,
      async checkPartialDir() {
        const info = await lstat(partialDir);
        if (!info.isDirectory()) throw new P2pdError('INBOX_UNWRITABLE', `${partialDir} is no longer a directory; restart the daemon`);
      },
      release(transfer) {
        if (transfers.get(transfer.transferId) === transfer) transfers.delete(transfer.transferId);
      },
      resumeKeysInUse: new Set<string>(),
    };
    this.#logger.debug({ root }, 'inbox ready');
  }

  /**
   * Deletes partial files untouched for longer than `olderThanMs` (the cleanupPartials job).
   * Files of running transfers are written continuously, so their age stays small; the idle
   * timeout ends a stalled transfer long before it could be swept.
   */
  async cleanupPartials(options: { olderThanMs: number; now?: number }): Promise<number> {
    const partialDir = this.#context?.partialDir;
    if (partialDir === undefined) return 0;
    const cutoff = (options.now ?? Date.now()) - options.olderThanMs;
    let removed = 0;
    for (const name of await readdir(partialDir)) {
      const path = join(partialDir, name);
      try {
        const info = await lstat(path);
        if (info.mtimeMs >= cutoff) continue;
        await rm(path, { recursive: true, force: true });
        removed++;
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
    }
    if (removed > 0) this.#logger.warn({ count: removed }, 'removed stale partial files');
    return removed;
  }

  /** Closes every transfer still open (removing its uncommitted partial files). */
  async stop(): Promise<void> {
    const running = [...this.#transfers.values()];
    await Promise.allSettled(running.map((transfer) => transfer.close()));
    this.#context = undefined;
  }

  async prepare(
    offer: { transferId: string; entries: readonly OfferEntry[]; sender: SenderInfo },
    options: { signal: AbortSignal },
  ): Promise<PreparedTransfer> {
    options.signal.throwIfAborted();
    const context = this.#context;
    if (context === undefined) throw new P2pdError('INTERNAL', 'the inbox is not started');
    const transferId = checkTransferId(offer.transferId);
    const plan = planOffer(offer.entries, { maxFileSize: this.#maxFileSize });
    if (this.#transfers.has(transferId)) {
      throw new P2pdError('OFFER_INVALID', `transfer ${transferId} is already running`, { details: { reason: 'transfer-id-in-use' } });
    }
    const transfer = new InboxTransfer(context, transferId, plan, offer.sender?.id ?? '');
    this.#transfers.set(transferId, transfer);
    try {
      await transfer.reserve(options.signal);
    } catch (err) {
      await transfer.close();
      throw storeError(err, 'creating directories');
    }
    context.logger.debug(
      { transferId, sender: displayName(offer.sender?.name ?? ''), entries: plan.size },
      'offer prepared in the inbox',
    );
    return transfer;
  }
}

class InboxTransfer implements PreparedTransfer {
  readonly transferId: string;
  readonly #context: InboxContext;
  readonly #plan: OfferPlan;
  /** Offer's top-level directory name → the name reserved for it in the inbox. */
  readonly #reserved = new Map<string, string>();
  /** Directories this transfer created (absolute paths); close() removes the empty ones. */
  readonly #createdDirs = new Set<string>();
  readonly #files = new Map<number, InboxPartialFile>();
  readonly #committed = new Set<number>();
  #closing: Promise<void> | undefined;
  /** Set once reserve() finished: only then can the transfer be complete. */
  #reservedAll = false;

  readonly #senderId: string;

  constructor(context: InboxContext, transferId: string, plan: OfferPlan, senderId: string) {
    this.#context = context;
    this.transferId = transferId;
    this.#plan = plan;
    this.#senderId = senderId;
  }

  /**
   * Where a retry of this transfer finds the folder names its first attempt reserved, so that the
   * rest of a tree lands next to what already arrived instead of in "photos (1)".
   */
  get #reservationPath(): string {
    const key = createHash('sha256').update(`${this.#senderId}\0${this.transferId}`).digest('hex').slice(0, 40);
    return join(this.#context.partialDir, `t-${key}.json`);
  }

  async #previousReservations(): Promise<Map<string, string>> {
    try {
      const raw = JSON.parse(await readFile(this.#reservationPath, 'utf8')) as Record<string, unknown>;
      const out = new Map<string, string>();
      for (const [top, name] of Object.entries(raw)) {
        if (typeof name !== 'string') continue;
        // The record is ours, but the names still go through the same checks as any other.
        const [checked] = checkRelativePath(name);
        if (checked !== name) continue;
        const info = await lstat(join(this.#context.root, name)).catch(() => undefined);
        if (info?.isDirectory() === true && !info.isSymbolicLink()) out.set(top, name);
      }
      return out;
    } catch {
      return new Map();
    }
  }

  /** What an earlier attempt left for `key`: bytes of data and the journal of block digests. */
  async resumeState(key: string): Promise<{ bytes: number; journal: Buffer } | null> {
    if (!RESUME_KEY.test(key) || this.#context.resumeKeysInUse.has(key)) return null;
    const base = join(this.#context.partialDir, `r-${key}`);
    const bytes = await stat(`${base}.part`).then(
      (s) => s.size,
      () => 0,
    );
    const journal = await readFile(`${base}.blocks`).catch(() => Buffer.alloc(0));
    return { bytes, journal };
  }

  /** Reserves every top-level directory exclusively and creates the explicit directory entries. */
  async reserve(signal: AbortSignal): Promise<void> {
    const root = this.#context.root;
    const checkRunning = (): void => {
      signal.throwIfAborted();
      if (this.#closing !== undefined) throw new P2pdError('TRANSFER_CANCELLED', 'the inbox is stopping');
    };
    const previous = this.#senderId === '' ? new Map<string, string>() : await this.#previousReservations();
    for (const [top, { explicitMode }] of this.#plan.topDirs) {
      checkRunning();
      const name = previous.get(top) ?? (await this.#reserveTopDir(top, explicitMode === undefined ? 0o777 : 0o700));
      this.#reserved.set(top, name);
    }
    if (this.#senderId !== '' && this.#reserved.size > 0) {
      await writeFile(this.#reservationPath, JSON.stringify(Object.fromEntries(this.#reserved)), { mode: 0o600 }).catch((err: unknown) => {
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
      const path = join(this.#context.root, name);
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
    return [reserved, ...components.slice(1)];
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

  async openFile(index: number, options: { signal: AbortSignal; resumeKey?: string; offset?: number }): Promise<PartialFile> {
    options.signal.throwIfAborted();
    if (this.#closing !== undefined) throw new P2pdError('INTERNAL', `transfer ${this.transferId} is closed`);
    const planned = this.#plan.entry(index);
    if (planned === undefined || planned.entry.kind !== 'file') {
      throw new P2pdError('OFFER_INVALID', `entry ${index} is not a file of this offer`, { details: { reason: 'not-a-file-entry', index } });
    }
    if (this.#committed.has(index) || this.#files.has(index)) {
      throw new P2pdError('OFFER_INVALID', `entry ${index} was already opened`, { details: { reason: 'file-already-open', index } });
    }
    const key = options.resumeKey;
    const offset = options.offset ?? 0;
    if (key !== undefined && (!RESUME_KEY.test(key) || this.#context.resumeKeysInUse.has(key))) {
      throw new P2pdError('INTERNAL', 'that resumable partial file is in use');
    }
    if (key === undefined && offset !== 0) throw new P2pdError('INTERNAL', 'an offset needs a resume key');
    const path = join(this.#context.partialDir, key === undefined ? `${this.transferId}.${index}.part` : `r-${key}.part`);
    let handle: FileHandle;
    let journal: FileHandle | undefined;
    try {
      await this.#context.checkPartialDir();
      if (key === undefined) {
        handle = await open(path, 'wx', 0o600);
      } else {
        // A kept partial file continues at `offset`; anything after it (a torn last block) goes.
        handle = await open(path, 'r+').catch((err: unknown) => {
          if (errnoOf(err) !== 'ENOENT' || offset !== 0) throw err;
          return open(path, 'wx', 0o600);
        });
        await handle.truncate(offset);
        journal = await open(`${path.slice(0, -'.part'.length)}.blocks`, 'a+', 0o600);
        await journal.truncate((offset / BLOCK_SIZE) * DIGEST_BYTES);
      }
    } catch (err) {
      throw storeError(err, 'creating a partial file');
    }
    if (key !== undefined) this.#context.resumeKeysInUse.add(key);
    const file = new InboxPartialFile(this, planned, path, handle, key === undefined ? undefined : { key, journal: journal!, offset });
    this.#files.set(index, file);
    return file;
  }

  /** Moves a finished partial file to its final name; returns the path relative to the inbox. */
  async place(file: InboxPartialFile): Promise<string> {
    const { components } = file.planned;
    const parentParts = components.length === 1 ? [] : this.#mapped(components.slice(0, -1));
    const parent = await this.#ensureDirectories(parentParts);
    const root = this.#context.root;
    const parentReal = await realpath(parent);
    if (parentReal !== root && !parentReal.startsWith(root + sep)) {
      throw nameError('outside-inbox', `refusing to write outside the inbox: ${displayName(parent)}`);
    }
    const base = components[components.length - 1]!;
    for (let n = 0; n < MAX_CONFLICT_ATTEMPTS; n++) {
      const name = n === 0 ? base : conflictName(base, n);
      if (await this.#moveNoReplace(file.partialPath, join(parent, name))) {
        await this.#syncDirectory(parent);
        this.#committed.add(file.planned.index);
        return [...parentParts, name].join('/');
      }
    }
    throw nameError('too-many-conflicts', `no free name for "${displayName(base)}" in the inbox`);
  }

  /** Returns false when `target` exists; never replaces anything. */
  async #moveNoReplace(partial: string, target: string): Promise<boolean> {
    try {
      await this.#context.link(partial, target);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EEXIST') return false;
      if (code !== undefined && LINK_UNSUPPORTED.has(code)) return this.#renameNoReplace(partial, target);
      throw err;
    }
    await unlink(partial).catch((err: unknown) => {
      this.#context.logger.warn({ err, partial }, 'could not remove a committed partial file; it goes at the next start');
    });
    return true;
  }

  /**
   * For file systems without hard links: claims the name with an exclusive create, then renames
   * the partial over that empty placeholder (ours), so an existing file is still never replaced.
   */
  async #renameNoReplace(partial: string, target: string): Promise<boolean> {
    let placeholder: FileHandle;
    try {
      placeholder = await open(target, 'wx', 0o600);
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') return false;
      throw err;
    }
    await placeholder.close();
    try {
      await rename(partial, target);
    } catch (err) {
      await unlink(target).catch(() => {});
      throw err;
    }
    return true;
  }

  async #syncDirectory(path: string): Promise<void> {
    try {
      const handle = await openDirectory(path);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      // Some file systems cannot fsync a directory (EINVAL); the file itself is already synced.
      this.#context.logger.debug({ err, path }, 'could not fsync a directory');
    }
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
        if ((await lstat(join(this.#context.root, name)).catch(() => undefined))?.isDirectory() === true) needed = true;
      }
    }
    if (!needed) await unlink(this.#reservationPath).catch(() => undefined);
  }
}

type PartialState = 'open' | 'committing' | 'committed' | 'failed' | 'discarded';

class InboxPartialFile implements PartialFile {
  readonly stream: WriteStream;
  readonly planned: PlannedEntry;
  readonly partialPath: string;
  readonly #transfer: InboxTransfer;
  readonly #handle: FileHandle;
  #state: PartialState = 'open';
  #streamError: unknown;
  #committing: Promise<string> | undefined;
  #discarding: Promise<void> | undefined;
  #keeping: Promise<void> | undefined;

  readonly #resume: { key: string; journal: FileHandle; offset: number; position: number; writes: Promise<void> } | undefined;

  constructor(
    transfer: InboxTransfer,
    planned: PlannedEntry,
    partialPath: string,
    handle: FileHandle,
    resume?: { key: string; journal: FileHandle; offset: number },
  ) {
    this.#transfer = transfer;
    this.planned = planned;
    this.partialPath = partialPath;
    this.#handle = handle;
    this.#resume = resume === undefined ? undefined : { ...resume, position: (resume.offset / BLOCK_SIZE) * DIGEST_BYTES, writes: Promise.resolve() };
    // autoClose: false keeps the descriptor open after 'finish' so commit can fsync, fchmod and
    // futimes it; closeStream() closes it.
    this.stream = handle.createWriteStream({ autoClose: false, highWaterMark: WRITE_HIGH_WATER_MARK, start: resume?.offset ?? 0 });
    // Keeps a write error (ENOSPC) for commit() and stops it from crashing the process when no
    // pipeline is listening; pipeline() still sees it through its own listener.
    this.stream.on('error', (err) => {
      this.#streamError ??= err;
    });
  }

  commit(options: { signal: AbortSignal }): Promise<string> {
    if (this.#state !== 'open') {
      return Promise.reject(new P2pdError('INTERNAL', `partial file ${this.planned.index} cannot be committed: it is ${this.#state}`));
    }
    this.#state = 'committing';
    this.#committing = this.#commit(options.signal).then(
      (path) => {
        this.#state = 'committed';
        this.#transfer.forget(this);
        return path;
      },
      (err: unknown) => {
        this.#state = 'failed';
        throw storeError(err, `committing "${displayName(this.planned.entry.path)}"`);
      },
    );
    return this.#committing;
  }

  async #commit(signal: AbortSignal): Promise<string> {
    signal.throwIfAborted();
    await this.#finish();
    const { entry } = this.planned;
    const handle = this.#handle;
    const { size } = await handle.stat();
    if (size !== entry.size) {
      throw new P2pdError('SIZE_MISMATCH', `"${displayName(entry.path)}" has ${size} bytes, the offer said ${entry.size}`, {
        details: { index: this.planned.index, expected: entry.size, actual: size },
      });
    }
    await handle.chmod((entry.mode & 0o755) | 0o600);
    await handle.utimes(Date.now() / 1000, entry.mtimeMs / 1000);
    await handle.sync();
    await closeStream(this.stream);
    signal.throwIfAborted();
    const placed = await this.#transfer.place(this);
    await this.#dropJournal();
    return placed;
  }

  /** Ends the stream and waits until every byte reached the descriptor. */
  async #finish(): Promise<void> {
    const stream = this.stream;
    if (this.#streamError !== undefined) throw this.#streamError;
    if (stream.destroyed) throw new P2pdError('INTERNAL', 'the partial file was destroyed before commit');
    if (stream.writableFinished) return;
    await new Promise<void>((resolvePromise, rejectPromise) => {
      const onFinish = (): void => {
        stream.off('error', onError);
        resolvePromise();
      };
      const onError = (err: unknown): void => {
        stream.off('finish', onFinish);
        rejectPromise(err);
      };
      stream.once('finish', onFinish);
      stream.once('error', onError);
      if (!stream.writableEnded) stream.end();
    });
  }

  /**
   * Records a completed block's digest in the journal. The journal may run ahead of the data on
   * disk after a crash; a resume therefore uses the smaller of the two (see resumeState).
   */
  journal(digest: Buffer): void {
    const r = this.#resume;
    if (r === undefined) return;
    const position = r.position;
    r.position += DIGEST_BYTES;
    r.writes = r.writes
      .then(() => r.journal.write(digest, 0, DIGEST_BYTES, position))
      .then(
        () => undefined,
        (err: unknown) => {
          this.#streamError ??= err;
        },
      );
  }

  /** Stops here but keeps the data and its journal for a later resume (a plain partial is deleted). */
  keep(): Promise<void> {
    // The session and the inbox's own close() may both ask; the first decides.
    if (this.#keeping !== undefined) return this.#keeping;
    const r = this.#resume;
    if (r === undefined || this.#state !== 'open') return this.discard();
    this.#state = 'discarded';
    this.#keeping = (async () => {
      await closeStream(this.stream);
      await r.writes;
      // Kept data is what a resume trusts without reading it again: put it on disk.
      await this.#handle.sync().catch(() => {});
      await r.journal.sync().catch(() => {});
      await this.#handle.close().catch(() => {});
      await r.journal.close().catch(() => {});
      this.#transfer.releaseResumeKey(r.key);
      this.#transfer.forget(this);
    })();
    return this.#keeping;
  }

  discard(): Promise<void> {
    if (this.#keeping !== undefined) return this.#keeping;
    this.#discarding ??= this.#discard();
    return this.#discarding;
  }

  async #discard(): Promise<void> {
    if (this.#committing !== undefined) await this.#committing.catch(() => {});
    if (this.#state === 'committed') return;
    this.#state = 'discarded';
    await closeStream(this.stream);
    await this.#handle.close().catch(() => {});
    await unlink(this.partialPath).catch((err: unknown) => {
      if (errnoOf(err) !== 'ENOENT') throw storeError(err, 'removing a partial file');
    });
    await this.#dropJournal();
    this.#transfer.forget(this);
  }

  async #dropJournal(): Promise<void> {
    const r = this.#resume;
    if (r === undefined) return;
    await r.writes;
    await r.journal.close().catch(() => {});
    await unlink(`${this.partialPath.slice(0, -'.part'.length)}.blocks`).catch(() => {});
    this.#transfer.releaseResumeKey(r.key);
  }
}
