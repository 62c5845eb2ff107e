/**
 * What keeps the inbox's own files ours against another local user: directories checked for owner
 * and mode, and every partial file, journal and record opened without following a symlink, then
 * checked through its descriptor (fstat) for what was really opened.
 *
 * Node has no openat(2), so a name is still resolved from the root on each call. What makes the
 * remaining check-then-use gaps harmless is that nobody else can write the directories involved:
 * the inbox (and a per-peer folder) must belong to the daemon's user and not be writable by group or
 * others, and `.p2pd-partial` is ours, 0700, and the very directory (device, inode) found at start.
 */
import { constants as fsConstants, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { P2pdError } from '../errors.js';
import { displayName } from './safe-name.js';

const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = fsConstants;

/** The daemon's user id, or undefined where the platform has none (then owners are not compared). */
function ourUid(): number | undefined {
  return process.getuid?.();
}

/** Where a directory or file was found: compared again before it is used. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

function refused(path: string, why: string, details: Record<string, unknown> = {}): P2pdError {
  return new P2pdError('INBOX_UNWRITABLE', `refusing to use ${displayName(path)}: ${why}`, { details: { path, ...details } });
}

/**
 * Refuses a directory another local user could change: not ours, or writable by group or others
 * (sticky or not: the sticky bit stops others removing our names, not planting their own).
 * `what` names it in the message ("the inbox", "the per-peer folder").
 */
export function checkPrivateDirectory(path: string, info: Stats, what: string): void {
  if (info.isSymbolicLink()) throw refused(path, `${what} is a symlink`, { reason: 'symlink' });
  if (!info.isDirectory()) throw refused(path, `${what} is not a directory`, { reason: 'not-a-directory' });
  const uid = ourUid();
  if (uid !== undefined && info.uid !== uid) {
    throw refused(
      path,
      `${what} belongs to user ${info.uid}, not to the daemon's user (${uid}); another user could swap files in it. Give it to the daemon's user (chown) or set "inbox" to a directory of its own`,
      {
        reason: 'foreign-owner',
        owner: info.uid,
      },
    );
  }
  if ((info.mode & 0o022) !== 0) {
    const mode = (info.mode & 0o7777).toString(8);
    throw refused(path, `${what} can be written by group or others (mode ${mode}), so another local user could plant links in it; run \`chmod go-w ${path}\``, {
      reason: 'writable-by-others',
      mode,
    });
  }
}

/** Checks what a descriptor really opened: a regular file of ours with no other name. */
async function checkOpened(handle: FileHandle, path: string): Promise<Stats> {
  const info = await handle.stat();
  const uid = ourUid();
  let why: string | undefined;
  if (!info.isFile()) why = 'it is not a regular file';
  else if (uid !== undefined && info.uid !== uid) why = `it belongs to user ${info.uid}`;
  else if (info.nlink !== 1) why = 'it has another name (a hard link)';
  if (why !== undefined) {
    await handle.close().catch(() => {});
    throw refused(path, why, { reason: 'not-our-file' });
  }
  return info;
}

/** ELOOP from O_NOFOLLOW means a symlink sat at the name: say so instead of "too many levels". */
function symlinkRefusal(err: unknown, path: string): unknown {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ELOOP' ? refused(path, 'a symlink is at its name', { reason: 'symlink' }) : err;
}

export interface OpenedFile {
  handle: FileHandle;
  info: Stats;
}

/** Creates a file that did not exist (exclusive, no-follow, 0600) and checks what was opened. */
export async function createExclusive(path: string): Promise<OpenedFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  } catch (err) {
    throw symlinkRefusal(err, path);
  }
  return { handle, info: await checkOpened(handle, path) };
}

/**
 * Creates a file that did not exist (exclusive, no-follow, 0600 unless `mode` says otherwise)
 * without the fstat: what O_EXCL created is a new regular file of ours with one name. Its identity
 * comes from the fstat its commit makes anyway, before anything trusts it.
 */
export async function createNew(path: string, mode = 0o600): Promise<FileHandle> {
  try {
    return await open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  } catch (err) {
    throw symlinkRefusal(err, path);
  }
}

/** Opens an existing file of ours (no-follow, not exclusive) for reading, or writing too. */
export async function openExisting(path: string, options: { write: boolean }): Promise<OpenedFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, (options.write ? O_RDWR : O_RDONLY) | O_NOFOLLOW);
  } catch (err) {
    throw symlinkRefusal(err, path);
  }
  return { handle, info: await checkOpened(handle, path) };
}

/** Opens an existing file of ours, or creates it when it is missing (never through a symlink). */
export async function openOrCreate(path: string): Promise<OpenedFile> {
  try {
    return await openExisting(path, { write: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException | undefined)?.code !== 'ENOENT') throw err;
  }
  return createExclusive(path);
}

/** Replaces the content of a small record file of ours (no-follow; created 0600 when missing). */
export async function writeRecord(path: string, data: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, O_WRONLY | O_CREAT | O_NOFOLLOW, 0o600);
  } catch (err) {
    throw symlinkRefusal(err, path);
  }
  await checkOpened(handle, path);
  try {
    await handle.truncate(0);
    await handle.write(data, 0, 'utf8');
  } finally {
    await handle.close();
  }
}

/** Reads a small record file of ours (no-follow). */
export async function readRecord(path: string): Promise<string> {
  const { handle } = await openExisting(path, { write: false });
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Fails unless `path` is still the very regular file `expected` (no symlink, not swapped). */
export async function checkStillThere(path: string, expected: FileIdentity): Promise<void> {
  const info = await lstat(path);
  if (!info.isFile() || !sameFile(info, expected)) throw refused(path, 'the partial file was replaced', { reason: 'replaced' });
}
