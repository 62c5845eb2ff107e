/**
 * A small file (one block or less) received whole and already verified, written and placed by one
 * job: the same steps and checks as a streamed partial file (exclusive no-follow create in the
 * partial directory, data, fstat, mode, mtime, fsync, close, then placed only if the partial is
 * still the very inode written), without a write stream, a resume key or a journal. Many of these
 * jobs run at once, so their fsyncs and their folder's fsync are shared by the file system.
 */
import { unlink } from 'node:fs/promises';
import { storeError } from './inbox-errors.js';
import { createNew, type FileIdentity } from './inbox-guard.js';
import type { PlannedEntry } from './offer-plan.js';
import { displayName } from './safe-name.js';
import { receivedMode, sealReceivedFile } from './seal-file.js';

/** What place() needs to know of a finished partial file. */
export interface PlaceableFile {
  readonly planned: PlannedEntry;
  readonly partialPath: string;
  /** The inode written and synced: only it may get the final name. */
  readonly identity: FileIdentity;
}

export interface SmallFileOwner {
  checkPartialDir(): Promise<void>;
  /** Moves a finished partial file to its final name; returns the path relative to the inbox. */
  place(file: PlaceableFile): Promise<string>;
}

/**
 * Writes `data` (all of the file) to a new partial file at `partialPath` and places it. On any
 * failure the partial is removed; the final name is only ever the synced, checked inode.
 */
export async function saveSmallFile(owner: SmallFileOwner, planned: PlannedEntry, partialPath: string, data: Buffer, signal: AbortSignal): Promise<string> {
  const { entry } = planned;
  signal.throwIfAborted();
  let created = false;
  try {
    await owner.checkPartialDir();
    // Created with its final mode (the umask may still take bits away: checked below), which in
    // the private partial directory exposes nothing: one fchmod less per file.
    const handle = await createNew(partialPath, receivedMode(entry.mode));
    created = true;
    let identity: FileIdentity;
    try {
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await handle.write(data, written, data.length - written, written);
        written += bytesWritten;
      }
      identity = await sealReceivedFile(handle, planned);
    } finally {
      await handle.close();
    }
    signal.throwIfAborted();
    return await owner.place({ planned, partialPath, identity });
  } catch (err) {
    if (created) {
      // Gone already when it was placed; a failure to remove it is swept at the next start.
      await unlink(partialPath).catch(() => undefined);
    }
    throw storeError(err, `committing "${displayName(entry.path)}"`);
  }
}
