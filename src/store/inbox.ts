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
import { access, link as fsLink, lstat, mkdir, open, readdir, realpath, rm, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { P2pdError } from '../errors.js';
import type { OfferEntry } from '../protocol/messages.js';
import type { AcceptChoices, InboxStore, OfferReview, PreparedTransfer, SenderInfo } from '../transfer/ports.js';
import { errnoOf, storeError } from './inbox-errors.js';
import { InboxTransfer, type InboxContext } from './inbox-transfer.js';
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
}

/** Names in the partial directory that outlive a daemon restart: resumable data, journals, reservations. */
const RESUMABLE_NAME = /^[rt]-[0-9a-f]{40}\./;

const silentLogger: InboxLogger = { warn() {}, debug() {} };

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
    context.logger.debug(
      { transferId, sender: displayName(offer.sender?.name ?? ''), entries: plan.size },
      'offer prepared in the inbox',
    );
    return transfer;
  }
}
