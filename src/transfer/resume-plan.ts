/**
 * Which offered files continue from data an earlier attempt kept (feature "resume"), and where.
 */
import { createHash } from 'node:crypto';
import { BLOCK_SIZE, type OfferEntry } from '../protocol/messages.js';
import type { PreparedTransfer } from './ports.js';

export interface ResumePlan {
  /** The kept data's key in the store: derived from the sender's id and the file's id. */
  key: string;
  /** Where the file continues: a whole number of blocks, at most its size. */
  offset: number;
  /** The digests of the blocks before `offset`, from the journal (never read again). */
  prefix: Buffer[];
}

/**
 * Files the sender identifies (fileId) whose data an earlier attempt kept continue at the last
 * complete block; the journal gives those blocks' digests without reading them.
 */
export async function planResume(
  prepared: PreparedTransfer,
  entries: readonly OfferEntry[],
  fileIndexes: readonly number[],
  peerId: string,
): Promise<Map<number, ResumePlan>> {
  const resumable = new Map<number, ResumePlan>();
  if (prepared.resumeState === undefined) return resumable;
  for (const i of fileIndexes) {
    const entry = entries[i]!;
    // A file of one block or less can never continue past a complete block: no journal, no
    // look for kept data (two to eight system calls a file saved on many small files).
    if (entry.fileId === undefined || entry.size <= BLOCK_SIZE) continue;
    const key = createHash('sha256').update(`${peerId}\0${entry.fileId}`).digest('hex').slice(0, 40);
    const state = await prepared.resumeState(key);
    if (state === null) continue;
    const blocks = Math.min(Math.floor(state.journal.length / 32), Math.floor(state.bytes / BLOCK_SIZE), Math.floor(entry.size / BLOCK_SIZE));
    const prefix: Buffer[] = [];
    for (let b = 0; b < blocks; b++) prefix.push(state.journal.subarray(b * 32, b * 32 + 32));
    resumable.set(i, { key, offset: blocks * BLOCK_SIZE, prefix });
  }
  return resumable;
}
