/**
 * The last steps of every received file before it may be placed, whether it was streamed or saved
 * whole: its size checked against the offer, its mode and mtime set, its data synced. What is
 * returned is the inode that was written: only it may get the final name.
 */
import type { FileHandle } from 'node:fs/promises';
import { P2pdError } from '../errors.js';
import type { FileIdentity } from './inbox-guard.js';
import type { PlannedEntry } from './offer-plan.js';
import { displayName } from './safe-name.js';

/** The mode a received file gets: the sender's, without setuid/setgid/sticky or others' write, and always owner read/write. */
export function receivedMode(mode: number): number {
  return (mode & 0o755) | 0o600;
}

/** `expected`: the inode this handle was opened on, when known; a different one is a fault. */
export async function sealReceivedFile(handle: FileHandle, planned: PlannedEntry, expected?: FileIdentity): Promise<FileIdentity> {
  const { entry } = planned;
  const info = await handle.stat();
  if (expected !== undefined && (info.dev !== expected.dev || info.ino !== expected.ino)) {
    throw new P2pdError('INTERNAL', 'the partial file changed identity');
  }
  if (info.size !== entry.size) {
    throw new P2pdError('SIZE_MISMATCH', `"${displayName(entry.path)}" has ${info.size} bytes, the offer said ${entry.size}`, {
      details: { index: planned.index, expected: entry.size, actual: info.size },
    });
  }
  // A file created with its final mode needs no fchmod unless the umask took bits away.
  const mode = receivedMode(entry.mode);
  if ((info.mode & 0o7777) !== mode) await handle.chmod(mode);
  await handle.utimes(Date.now() / 1000, entry.mtimeMs / 1000);
  await handle.sync();
  return { dev: info.dev, ino: info.ino };
}
