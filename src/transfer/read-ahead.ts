/**
 * Small files read ahead of the wire. Each file costs the sender an open, two fstats, a read and a
 * close, every one a round trip through libuv's thread pool; done one file after the other they,
 * not the link, set the pace of a send of many small files. Reading the next few whole files while
 * earlier ones are on the wire hides that latency. Bounded in files and bytes, so memory stays flat.
 */
import type { ChunkBuffers } from './chunk-pool.js';
import type { FileSource } from './ports.js';

/** Files up to this size are read ahead whole; larger ones stream as before. */
export const READ_AHEAD_FILE_BYTES = 256 * 1024;
const MAX_AHEAD_FILES = 32;
const MAX_AHEAD_BYTES = 4 * 1024 * 1024;

export class ReadAhead {
  readonly #source: FileSource;
  readonly #signal: AbortSignal;
  /** Files still to send, in order, with their sizes. */
  readonly #queue: Array<{ index: number; size: number }>;
  #next = 0;
  readonly #ahead = new Map<number, { size: number; chunks: Promise<Buffer[]> }>();
  #aheadBytes = 0;
  readonly #buffers: ChunkBuffers | undefined;

  /** `buffers`: where every read takes its buffers (the consumer gives them back when done). */
  constructor(source: FileSource, queue: Array<{ index: number; size: number }>, signal: AbortSignal, buffers?: ChunkBuffers) {
    this.#source = source;
    this.#queue = queue;
    this.#signal = signal;
    this.#buffers = buffers;
    this.#fill();
  }

  /** The bytes of file `index` (which must be the next one of the queue to be sent). */
  read(index: number, start = 0): AsyncIterable<Buffer> {
    const ahead = this.#ahead.get(index);
    if (ahead === undefined) {
      // Files before it in the queue that were never taken (none in practice) are passed over.
      while (this.#next < this.#queue.length && this.#queue[this.#next]!.index !== index) this.#next++;
      if (this.#next < this.#queue.length) this.#next++;
      this.#fill();
      return this.#source.read(index, this.#options(start));
    }
    this.#ahead.delete(index);
    this.#aheadBytes -= ahead.size;
    this.#fill();
    return replay(ahead.chunks);
  }

  #fill(): void {
    while (this.#next < this.#queue.length && this.#ahead.size < MAX_AHEAD_FILES) {
      const { index, size } = this.#queue[this.#next]!;
      if (size > READ_AHEAD_FILE_BYTES || this.#aheadBytes + size > MAX_AHEAD_BYTES) return;
      this.#next++;
      const chunks = collect(this.#source.read(index, this.#options(0)));
      // A failure is reported when the file's turn comes, not as an unhandled rejection now.
      chunks.catch(() => undefined);
      this.#ahead.set(index, { size, chunks });
      this.#aheadBytes += size;
    }
  }

  #options(start: number): { signal: AbortSignal; start?: number; buffers?: ChunkBuffers } {
    return { signal: this.#signal, ...(start === 0 ? {} : { start }), ...(this.#buffers === undefined ? {} : { buffers: this.#buffers }) };
  }
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

async function* replay(chunks: Promise<Buffer[]>): AsyncGenerator<Buffer> {
  yield* await chunks;
}
