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

/** Where a source takes the buffers it reads into (FileSource.read's `buffers`). */
export interface ChunkBuffers {
  /** A buffer of exactly `length` bytes, its content undefined. */
  take(length: number): Buffer;
}

export class ChunkPool implements ChunkBuffers {
  readonly #size: number;
  readonly #max: number;
  readonly #free: ArrayBuffer[] = [];
  /** Buffers handed out and not given back yet: only these may come back, and only once. */
  readonly #out = new Set<ArrayBuffer>();

  /** `size`: each buffer's bytes; `max`: how many free buffers are kept for later. */
  constructor(options: { size: number; max: number }) {
    this.#size = options.size;
    this.#max = options.max;
  }

  take(length: number): Buffer {
    if (length > this.#size) return Buffer.allocUnsafeSlow(length);
    const buffer = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#size).buffer;
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
    if (this.#free.length < this.#max) this.#free.push(buffer);
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
