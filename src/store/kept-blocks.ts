/** Kept partial data for a resume: its journal, and how much of the data the journal vouches for. */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { BLOCK_SIZE } from '../protocol/messages.js';
import { openExisting } from './inbox-guard.js';
import { DIGEST_BYTES } from './inbox-partial-file.js';

/** The journal of a kept partial file (empty when it is missing or not ours). */
export async function readRecordBytes(path: string): Promise<Buffer> {
  const opened = await openExisting(path, { write: false }).catch(() => undefined);
  if (opened === undefined) return Buffer.alloc(0);
  try {
    return await opened.handle.readFile();
  } finally {
    await opened.handle.close();
  }
}

/** How many of the first `count` blocks of `handle` hash to the digests in `journal`. */
export async function verifiedBlocks(handle: FileHandle, count: number, journal: Buffer): Promise<number> {
  const buffer = Buffer.allocUnsafe(BLOCK_SIZE);
  for (let b = 0; b < count; b++) {
    let filled = 0;
    while (filled < BLOCK_SIZE) {
      const { bytesRead } = await handle.read(buffer, filled, BLOCK_SIZE - filled, b * BLOCK_SIZE + filled);
      if (bytesRead === 0) return b;
      filled += bytesRead;
    }
    const digest = createHash('sha256').update(buffer).digest();
    if (!digest.equals(journal.subarray(b * DIGEST_BYTES, (b + 1) * DIGEST_BYTES))) return b;
  }
  return count;
}
