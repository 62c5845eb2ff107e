/**
 * SHA-256 of big files off the event loop. One thread (hash-worker.ts) hashes whole blocks while
 * the event loop moves the next ones through TLS, the socket and the file: on a machine with a
 * spare core the hash list stops costing the data path about a CPU second per GiB on each side.
 *
 * The thread starts on first use and ends after a quiet spell, so an idle daemon carries no
 * thread and its memory.
 */
import { createHash } from 'node:crypto';
import { OnDemandWorker } from '../on-demand-worker.js';
import { BLOCK_SIZE } from '../protocol/messages.js';
import type { HashReply, HashRequest } from './hash-worker.js';

/** SHA-256 of blocks on a thread of their own (hash-worker.ts), in the order they are handed over. */
export class HashWorker {
  readonly #thread: OnDemandWorker<HashRequest, HashReply>;

  constructor(options: { idleMs?: number } = {}) {
    this.#thread = new OnDemandWorker(new URL('./hash-worker.js', import.meta.url), { what: 'the hashing thread', ...options });
  }

  /** Whether a thread is running now (tests; the thread comes and goes by itself). */
  get running(): boolean {
    return this.#thread.running;
  }

  /** SHA-256 of the first `length` bytes of `buffer`, which must not change until this settles. */
  async hash(buffer: SharedArrayBuffer, length: number): Promise<Buffer> {
    const digest = await this.#thread.request({ buffer, length });
    return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength);
  }

  stop(): Promise<void> {
    return this.#thread.stop();
  }
}

/**
 * The hash list of one file (see block-hash.ts) with its blocks hashed by a HashWorker. Two block
 * buffers: the thread hashes one while the caller fills the other; `update` returns a promise
 * when both are taken, which is the backpressure.
 */
export class OffloadedBlockHasher {
  readonly #worker: HashWorker;
  readonly #digests: Buffer[] = [];
  readonly #onBlock: ((digest: Buffer) => void) | undefined;
  readonly #slots: Array<{ buffer: SharedArrayBuffer; view: Buffer; busy: Promise<void> | undefined }> = [];
  #current = 0;
  #fill = 0;
  /** Digests arrive in the order blocks were handed over: one thread, one queue. */
  #chain: Promise<void> = Promise.resolve();
  #error: Error | undefined;

  constructor(worker: HashWorker, options: { prefix?: readonly Buffer[]; onBlock?: (digest: Buffer) => void } = {}) {
    this.#worker = worker;
    if (options.prefix !== undefined) this.#digests.push(...options.prefix);
    this.#onBlock = options.onBlock;
  }

  update(chunk: Buffer): Promise<void> | undefined {
    let at = 0;
    while (at < chunk.length) {
      const slot = this.#slot();
      if (slot.busy !== undefined) {
        const rest = chunk.subarray(at);
        return slot.busy.then(() => this.update(rest));
      }
      const take = Math.min(BLOCK_SIZE - this.#fill, chunk.length - at);
      chunk.copy(slot.view, this.#fill, at, at + take);
      this.#fill += take;
      at += take;
      if (this.#fill === BLOCK_SIZE) this.#submit(true);
    }
    return undefined;
  }

  /** The file's hash, lower-case hex: SHA-256 over every block digest, the short last one included. */
  async final(): Promise<string> {
    if (this.#fill > 0) this.#submit(false);
    await this.#chain;
    if (this.#error !== undefined) throw this.#error;
    const h = createHash('sha256');
    for (const d of this.#digests) h.update(d);
    return h.digest('hex');
  }

  #slot(): { buffer: SharedArrayBuffer; view: Buffer; busy: Promise<void> | undefined } {
    let slot = this.#slots[this.#current];
    if (slot === undefined) {
      const buffer = new SharedArrayBuffer(BLOCK_SIZE);
      slot = { buffer, view: Buffer.from(buffer), busy: undefined };
      this.#slots[this.#current] = slot;
    }
    return slot;
  }

  /** Only whole blocks are reported: a short last block is never a resume point. */
  #submit(notify: boolean): void {
    const slot = this.#slot();
    const digest = this.#worker.hash(slot.buffer, this.#fill);
    slot.busy = digest.then(
      () => {
        slot.busy = undefined;
      },
      () => {
        slot.busy = undefined;
      },
    );
    this.#chain = this.#chain
      .then(() => digest)
      .then(
        (d) => {
          this.#digests.push(d);
          if (notify) this.#onBlock?.(d);
        },
        (err: unknown) => {
          this.#error ??= err instanceof Error ? err : new Error(String(err));
        },
      );
    this.#current = (this.#current + 1) % 2;
    this.#fill = 0;
  }
}
