/**
 * Moving a finished file to its final name without ever replacing an existing one, and the
 * directory handles (opened without following a symlink) that make the move durable.
 */
import { constants as fsConstants } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { errnoOf } from './inbox-errors.js';
import type { InboxLogger } from './inbox.js';

/** Errors of link(2) on file systems without hard links (FAT, exFAT, some network mounts). */
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS']);
const OPEN_DIR_FLAGS = fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW;

/** Opens a directory without following a symlink at its last component. */
export async function openDirectory(path: string): Promise<FileHandle> {
  return open(path, OPEN_DIR_FLAGS);
}

/** fsyncs a directory so that a name just created in it survives a crash. */
export async function syncDirectory(path: string, logger: InboxLogger): Promise<void> {
  try {
    const handle = await openDirectory(path);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    // Some file systems cannot fsync a directory (EINVAL); the file itself is already synced.
    logger.debug({ err, path }, 'could not fsync a directory');
  }
}

/**
 * Directory fsyncs shared by the files placed in one directory: a caller joins the next fsync that
 * has not started yet, so every name it linked before calling is covered, and files placed while
 * one fsync runs share the next one (one per directory and batch instead of one per file).
 */
export class DirectorySyncs {
  readonly #logger: InboxLogger;
  readonly #dirs = new Map<string, { tail: Promise<void>; next: Promise<void> | undefined }>();

  constructor(logger: InboxLogger) {
    this.#logger = logger;
  }

  sync(path: string): Promise<void> {
    let dir = this.#dirs.get(path);
    if (dir === undefined) {
      dir = { tail: Promise.resolve(), next: undefined };
      this.#dirs.set(path, dir);
    }
    if (dir.next !== undefined) return dir.next;
    const d = dir;
    const next = d.tail.then(() => {
      // From here on a new caller's link may come after this fsync started: it needs the next one.
      d.next = undefined;
      return syncDirectory(path, this.#logger);
    });
    d.next = next;
    d.tail = next;
    return next;
  }
}

/**
 * Gives `partial` the name `target` with link(2) then unlink(2). Returns false when `target`
 * exists; never replaces anything.
 */
export async function moveNoReplace(
  link: (existingPath: string, newPath: string) => Promise<void>,
  logger: InboxLogger,
  partial: string,
  target: string,
): Promise<boolean> {
  try {
    await link(partial, target);
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'EEXIST') return false;
    if (code !== undefined && LINK_UNSUPPORTED.has(code)) return renameNoReplace(partial, target);
    throw err;
  }
  await unlink(partial).catch((err: unknown) => {
    logger.warn({ err, partial }, 'could not remove a committed partial file; it goes at the next start');
  });
  return true;
}

/**
 * For file systems without hard links: claims the name with an exclusive create, then renames
 * the partial over that empty placeholder (ours), so an existing file is still never replaced.
 */
async function renameNoReplace(partial: string, target: string): Promise<boolean> {
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
