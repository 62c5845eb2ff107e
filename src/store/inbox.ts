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
 * Limits of what Node offers: without openat(2) on every component, someone who can write inside
 * the inbox could swap a checked directory for a symlink between our check and our link(2). So
 * start() refuses an inbox (and the partial directory) that is not the daemon user's or that group
 * or others can write, pins the partial directory by device and inode, and every partial file is
 * opened no-follow and checked through its descriptor (inbox-guard.ts); the realpath check just
 * before the move narrows the window for the directories above a file.
 */
import { constants as fsConstants } from 'node:fs';
import { access, link as fsLink, lstat, mkdir, open, readdir, realpath, rm, stat, statfs, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { P2pdError } from '../errors.js';
import { formatBytes } from '../format-bytes.js';
import { BLOCK_SIZE, type OfferEntry } from '../protocol/messages.js';
import type { AcceptChoices, InboxStore, OfferReview, PreparedTransfer, SenderInfo } from '../transfer/ports.js';
import { errnoOf, storeError } from './inbox-errors.js';
import { DIGEST_BYTES } from './inbox-partial-file.js';
import { InboxTransfer, type InboxContext } from './inbox-transfer.js';
import { checkPrivateDirectory, sameFile, type FileIdentity } from './inbox-guard.js';
import { openDirectory } from './move-no-replace.js';
import { checkChoices, checkFolderInInbox, checkTransferId, planOffer, reviewOffer } from './offer-plan.js';
import { PARTIAL_DIR_NAME, displayName } from './safe-name.js';

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
  /**
   * Refuse a symlink at `dir` itself (a per-peer folder made inside a checked inbox). The configured
   * inbox may be reached through a symlink the user made; its target is checked instead.
   */
  noFollow?: boolean;
  /** limits.minFreeSpace: start() warns when the inbox's whole file system is smaller. */
  minFreeSpace?: number;
}

/** Names in the partial directory that outlive a daemon restart: resumable data, journals, reservations. */
const RESUMABLE_NAME = /^[rt]-[0-9a-f]{40}\./;

/**
 * Kept resume data shorter than one block (a 0-byte .part of an attempt that failed before any
 * data, or data without a journal) can never be resumed from: the names of both halves, to remove.
 */
async function uselessResumeFiles(partialDir: string, names: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const present = new Set(names);
  for (const name of names) {
    if (!name.startsWith('r-') || !name.endsWith('.part')) continue;
    const base = name.slice(0, -'.part'.length);
    const info = await lstat(join(partialDir, name)).catch(() => undefined);
    const journal = await lstat(join(partialDir, `${base}.blocks`)).catch(() => undefined);
    if (info !== undefined && info.isFile() && info.size >= BLOCK_SIZE && journal !== undefined && journal.size >= DIGEST_BYTES) continue;
    out.push(name);
    if (present.has(`${base}.blocks`)) out.push(`${base}.blocks`);
  }
  for (const name of names) {
    // A journal whose data is gone.
    if (name.startsWith('r-') && name.endsWith('.blocks') && !present.has(`${name.slice(0, -'.blocks'.length)}.part`)) out.push(name);
  }
  return out;
}

/** A file system smaller than limits.minFreeSpace can never take a file: say so once, at start. */
export async function warnIfReserveTooLarge(logger: InboxLogger, root: string, minFreeSpace: number): Promise<void> {
  if (minFreeSpace <= 0) return;
  const fs = await statfs(root).catch(() => undefined);
  if (fs === undefined) return;
  const size = fs.blocks * fs.bsize;
  if (size >= minFreeSpace) return;
  logger.warn(
    { inbox: root, fileSystemBytes: size, minFreeSpace },
    `the inbox's file system (${formatBytes(size)}) is smaller than the free-space reserve limits.minFreeSpace ` +
      `(${formatBytes(minFreeSpace)}): every offer will be refused as not fitting; lower limits.minFreeSpace or move the inbox`,
  );
}

const silentLogger: InboxLogger = { warn() {}, debug() {} };

export class Inbox implements InboxStore {
  readonly #logger: InboxLogger;
  readonly #link: (existingPath: string, newPath: string) => Promise<void>;
  readonly #dir: string;
  readonly #maxFileSize: number;
  readonly #noFollow: boolean;
  readonly #minFreeSpace: number;
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
    this.#noFollow = options.noFollow === true;
    this.#minFreeSpace = options.minFreeSpace ?? 0;
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
      if (this.#noFollow) {
        // A per-peer folder: made here inside a checked inbox; a symlink planted at its name is refused.
        await mkdir(dir, { mode: 0o700 }).catch((err: unknown) => {
          if (errnoOf(err) !== 'EEXIST') throw err;
        });
        checkPrivateDirectory(dir, await lstat(dir), 'the per-peer folder');
      } else {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const info = await stat(dir);
        if (!info.isDirectory()) {
          throw new P2pdError('INBOX_UNWRITABLE', `the inbox ${dir} is not a directory; remove it or set "inbox" in the config to a directory`, {
            details: { dir },
          });
        }
      }
      root = await realpath(dir);
      // The configured path may go through a symlink the user made; what it leads to must be ours.
      checkPrivateDirectory(root, await lstat(root), 'the inbox');
      await access(root, fsConstants.W_OK | fsConstants.X_OK);
    } catch (err) {
      throw unusable(err, 'opening the inbox');
    }
    signal?.throwIfAborted();

    const partialDir = join(root, PARTIAL_DIR_NAME);
    let partialId: FileIdentity;
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
      const handle = await openDirectory(partialDir);
      try {
        // What was opened is checked, not what the name showed a moment before.
        const opened = await handle.stat();
        if ((opened.mode & 0o777) !== 0o700 && opened.uid === process.getuid?.()) await handle.chmod(0o700);
        checkPrivateDirectory(partialDir, await handle.stat(), PARTIAL_DIR_NAME);
        partialId = { dev: opened.dev, ino: opened.ino };
      } finally {
        await handle.close();
      }
    } catch (err) {
      throw unusable(err, `creating ${PARTIAL_DIR_NAME}`);
    }

    try {
      // Resumable partial files (r-*) and folder reservations (t-*) are kept for the next attempt;
      // anything else is a plain partial of a transfer that cannot continue.
      const names = await readdir(partialDir);
      const leftovers = names.filter((name) => !RESUMABLE_NAME.test(name));
      leftovers.push(...(await uselessResumeFiles(partialDir, names)));
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
    /** The very directory checked at start: not a symlink or a look-alike someone put in its place. */
    const checkPartialDir = async (): Promise<void> => {
      const info = await lstat(partialDir);
      if (!info.isDirectory() || !sameFile(info, partialId) || (info.mode & 0o077) !== 0) {
        throw new P2pdError(
          'INBOX_UNWRITABLE',
          `${partialDir} was replaced or opened to others since the start; refusing to write there (restart the daemon)`,
          {
            details: { dir: partialDir, reason: 'partial-dir-replaced' },
          },
        );
      }
    };
    let partialDirCheck: Promise<void> | undefined;
    this.#context = {
      root,
      partialDir,
      logger: this.#logger,
      link: this.#link,
      checkPartialDir() {
        // Callers while one check runs share it (many small files are created at once): an lstat
        // that started a moment before a call proves as much as one started a moment after it (the
        // gap to the open is there either way), and each caller still opens only once it passed.
        partialDirCheck ??= checkPartialDir().finally(() => (partialDirCheck = undefined));
        return partialDirCheck;
      },
      release(transfer) {
        if (transfers.get(transfer.transferId) === transfer) transfers.delete(transfer.transferId);
      },
      resumeKeysInUse: new Set<string>(),
    };
    await warnIfReserveTooLarge(this.#logger, root, this.#minFreeSpace);
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

  /** Decides each entry's name before anyone is asked (offer-plan.ts); pure. */
  review(entries: readonly OfferEntry[]): OfferReview {
    return reviewOffer(entries, { maxFileSize: this.#maxFileSize, checkTo: checkFolderInInbox });
  }

  async prepare(
    offer: { transferId: string; entries: readonly OfferEntry[]; sender: SenderInfo; choices?: AcceptChoices },
    options: { signal: AbortSignal },
  ): Promise<PreparedTransfer> {
    options.signal.throwIfAborted();
    const context = this.#context;
    if (context === undefined) throw new P2pdError('INTERNAL', 'the inbox is not started');
    const transferId = checkTransferId(offer.transferId);
    const choices = offer.choices;
    const under = choices?.to === undefined ? [] : checkFolderInInbox(choices.to);
    const plan = planOffer(offer.entries, { maxFileSize: this.#maxFileSize, choices: checkChoices(offer.entries, choices?.files) });
    if (this.#transfers.has(transferId)) {
      throw new P2pdError('OFFER_INVALID', `transfer ${transferId} is already running`, { details: { reason: 'transfer-id-in-use' } });
    }
    const transfer = new InboxTransfer(context, transferId, plan, offer.sender?.id ?? '', under);
    this.#transfers.set(transferId, transfer);
    try {
      await transfer.reserve(options.signal);
    } catch (err) {
      await transfer.close();
      throw storeError(err, 'creating directories');
    }
    context.logger.debug({ transferId, sender: displayName(offer.sender?.name ?? ''), entries: plan.size }, 'offer prepared in the inbox');
    return transfer;
  }
}
