/**
 * The sender's DATA chunk buffers, used again once the socket and the hash are done with them.
 * A fresh 1 MiB buffer per chunk made a GiB into a thousand buffers of garbage: each lived just
 * long enough to be promoted out of V8's young generation, so tens of MiB piled up between major
 * collections (about 40 of them per GiB, a CPU second) and the allocator kept the high-water
 * mark resident. See docs/PERFORMANCE.md#memory.
 */

/**
 * Free buffers a sender keeps: enough for the chunks in flight (the one being read, the one being
 * hashed, MAX_BUFFERED_BYTES queued on the socket), so that a send allocates none after its start.
 */
export const MAX_POOLED_CHUNKS = 6;
/**
 * Free bytes a sender keeps of each size of buffer for whole small files: about what is queued on
 * the socket (MAX_BUFFERED_BYTES) and read ahead at a time.
 */
export const SMALL_FILES_POOLED_BYTES = 4 * 1024 * 1024;

/** Where a source takes the buffers it reads into (FileSource.read's `buffers`). */
export interface ChunkBuffers {
  /** A buffer of exactly `length` bytes, its content undefined. */
  take(length: number): Buffer;
}

/** The sizes of the smaller buffers a pool keeps for whole small files, smallest first. */
const SMALL_SIZES = [4 * 1024, 16 * 1024, 64 * 1024, 256 * 1024];

interface SizeClass {
  size: number;
  max: number;
  free: ArrayBuffer[];
}

export class ChunkPool implements ChunkBuffers {
  /** Smallest first; the last is the chunk size. */
  readonly #classes: SizeClass[];
  /** Buffers handed out and not given back yet: only these may come back, and only once. */
  readonly #out = new Set<ArrayBuffer>();

  /**
   * `size`: each chunk buffer's bytes; `max`: how many free chunk buffers are kept for later.
   * `keepSmallBytes`: with it, a request of a quarter of `size` or less gets a buffer of the
   * smallest of SMALL_SIZES that holds it, and each of those sizes keeps up to this many bytes of
   * free buffers. A send of many small files (each read whole, then queued on the socket while
   * hundreds more follow it) would otherwise leave one dead buffer per file to the major
   * collections, tens of MiB of them at a time.
   */
  constructor(options: { size: number; max: number; keepSmallBytes?: number }) {
    const keep = options.keepSmallBytes ?? 0;
    const small = keep === 0 ? [] : SMALL_SIZES.filter((size) => size * 4 <= options.size);
    this.#classes = [...small.map((size) => ({ size, max: Math.floor(keep / size), free: [] })), { size: options.size, max: options.max, free: [] }];
  }

  take(length: number): Buffer {
    const cls = this.#classes.find((c) => length <= c.size);
    if (cls === undefined) return Buffer.allocUnsafeSlow(length);
    const buffer = cls.free.pop() ?? Buffer.allocUnsafeSlow(cls.size).buffer;
    this.#out.add(buffer);
    return Buffer.from(buffer, 0, length);
  }

  /**
   * `chunk` (or a part of it) is no longer read or written by anyone: its buffer may be handed out
   * again. Anything that did not come from take() is left to the garbage collector.
   */
  give(chunk: Buffer): void {
    const buffer = chunk.buffer;
    if (!(buffer instanceof ArrayBuffer) || !this.#out.delete(buffer)) return;
    const cls = this.#classes.find((c) => c.size === buffer.byteLength);
    if (cls !== undefined && cls.free.length < cls.max) cls.free.push(buffer);
  }

  /** Buffers handed out and not given back (tests). */
  get outstanding(): number {
    return this.#out.size;
  }
}

/** Calls `fn` on the `uses`-th call: a chunk goes back once every one of its users is done. */
export function afterUses(uses: number, fn: () => void): () => void {
  let left = uses;
  return () => {
    if (--left === 0) fn();
  };
}
