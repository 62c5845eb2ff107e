/**
 * The sender's own block digests (feature "resume"), kept in memory by file id across the attempts
 * of a transfer. When the receiver answers with an offset, the sender that still holds the digests
 * of the blocks before it starts reading at the offset: nothing is read or hashed twice, so a
 * resumed send shows its rate at once instead of after re-reading the prefix. A file id changes
 * when the file does (size, mtime, inode), so stale digests are never used for a changed file.
 */
import { BLOCK_SIZE } from '../protocol/messages.js';

/** 32 bytes each: 262,144 digests (8 MiB) cover 256 GiB of files. */
const MAX_DIGESTS = 256 * 1024;

export class BlockDigestCache {
  readonly #files = new Map<string, Buffer[]>();
  readonly #max: number;

  constructor(options: { maxDigests?: number } = {}) {
    this.#max = options.maxDigests ?? MAX_DIGESTS;
  }

  /** The digests of the first `offset / BLOCK_SIZE` blocks of `fileId`, if all of them are known. */
  prefix(fileId: string, offset: number): Buffer[] | undefined {
    const blocks = offset / BLOCK_SIZE;
    const known = this.#files.get(fileId);
    if (known === undefined || !Number.isInteger(blocks) || known.length < blocks) return undefined;
    return known.slice(0, blocks);
  }

  /**
   * Starts recording `fileId`'s digests after its first `prefix.length` blocks; returns the
   * function that records each next block's digest in order.
   */
  record(fileId: string, prefix: readonly Buffer[]): (digest: Buffer) => void {
    const digests = [...prefix];
    // Most recently used last: eviction takes the oldest files first.
    this.#files.delete(fileId);
    this.#files.set(fileId, digests);
    this.#evict();
    return (digest) => {
      if (digests.length < this.#max) digests.push(digest);
    };
  }

  #evict(): void {
    let total = 0;
    for (const d of this.#files.values()) total += d.length;
    for (const [id, d] of this.#files) {
      if (total <= this.#max || this.#files.size === 1) return;
      this.#files.delete(id);
      total -= d.length;
    }
  }
}
