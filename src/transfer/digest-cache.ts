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
  /** Digests held in all of #files: counted as they come, so eviction need not add them up. */
  #total = 0;

  constructor(options: { maxDigests?: number } = {}) {
    this.#max = options.maxDigests ?? MAX_DIGESTS;
  }

  /**
   * Whether a file of `size` bytes can ever be resumed, and so be worth recording: an agreed
   * offset is a whole number of blocks short of the end, so a file of one block or less only ever
   * starts at 0. A send of 10,000 small files would otherwise leave 10,000 entries behind it.
   */
  static worthKeeping(size: number): boolean {
    return size > BLOCK_SIZE;
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
    this.#forget(fileId);
    this.#files.set(fileId, digests);
    this.#total += digests.length;
    this.#evict(fileId);
    return (digest) => {
      // Evicted since (newer files took the room), or alone bigger than the whole cache.
      if (this.#files.get(fileId) !== digests || digests.length >= this.#max) return;
      digests.push(digest);
      this.#total++;
      this.#evict(fileId);
    };
  }

  /** Files recorded (tests). */
  get size(): number {
    return this.#files.size;
  }

  #forget(fileId: string): void {
    const old = this.#files.get(fileId);
    if (old === undefined) return;
    this.#files.delete(fileId);
    this.#total -= old.length;
  }

  /** Drops the least recently recorded files, never `keep`, until the digests fit. */
  #evict(keep: string): void {
    for (const [id, d] of this.#files) {
      if (this.#total <= this.#max) return;
      if (id === keep) continue;
      this.#files.delete(id);
      this.#total -= d.length;
    }
  }
}
