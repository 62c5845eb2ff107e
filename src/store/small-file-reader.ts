/**
 * Small files read whole on a thread of their own. Through fs/promises each call for a small file
 * (open, two fstats, read, close) is a hand-off to libuv's pool and a callback on the event loop; a
 * thread that makes one file's calls synchronously is one message each way. Measured on 2,000
 * files of 4 KiB: about 180 µs of CPU per file through fs/promises, 40 on the thread
 * (docs/PERFORMANCE.md, "Small files, round three").
 *
 * The thread reads into slots of one SharedArrayBuffer and the bytes are copied out here. Buffers
 * handed to the thread and back lived until the thread's own garbage collection, which it seldom
 * needs: about 15 MB more resident on a send of 10,000 files.
 */
import { OnDemandWorker } from '../on-demand-worker.js';
import type { ChunkBuffers } from '../transfer/chunk-pool.js';
import type { SmallRead, SmallReadFailure, SmallReadOutcome, SmallReadThreadData, ThreadLook, ThreadReply, ThreadRequest } from './small-read-worker.js';

/** Files up to this size are read whole on the thread, when the scan was given a reader. */
export const WHOLE_READ_BYTES = 256 * 1024;
/** Files read at once: the thread does one at a time, a few queued keep it busy. */
const SLOTS = 16;
/**
 * Batches of reads the thread has at once. Each message costs a wake-up of the other thread and a
 * structured clone; reads asked for while one batch is on the thread go out together next. Two
 * keep the thread busy while the answer to the other one travels back.
 */
const BATCHES_IN_FLIGHT = 2;

interface QueuedRead {
  job: SmallRead;
  resolve: (outcome: SmallReadOutcome) => void;
  reject: (err: unknown) => void;
}

export type SmallFileRead = { ok: true; data: Buffer } | SmallReadFailure;

export class SmallFileReader {
  readonly #thread: OnDemandWorker<ThreadRequest, ThreadReply>;
  #shared: SharedArrayBuffer | undefined;
  readonly #free = Array.from({ length: SLOTS }, (_, i) => i);
  readonly #waiting: Array<(slot: number) => void> = [];
  #queued: QueuedRead[] = [];
  #batchesOut = 0;
  #flushing = false;

  constructor(options: { idleMs?: number } = {}) {
    // The shared memory goes to each thread once, as it starts, not with every file.
    const workerData = (): SmallReadThreadData => ({ shared: this.#sharedMemory() });
    this.#thread = new OnDemandWorker(new URL('./small-read-worker.js', import.meta.url), { what: 'the file-reading thread', workerData, ...options });
  }

  /** Whether a thread is running now (tests: it comes and goes by itself). */
  get running(): boolean {
    return this.#thread.running;
  }

  /** Reads `file` (of WHOLE_READ_BYTES or less) whole, into a buffer from `buffers` when given. */
  async read(file: Omit<SmallRead, 'offset'>, buffers?: ChunkBuffers): Promise<SmallFileRead> {
    if (file.size > WHOLE_READ_BYTES) throw new RangeError(`${file.size} bytes is not a small file`);
    const slot = await this.#take();
    try {
      const offset = slot * WHOLE_READ_BYTES;
      const outcome = await this.#enqueue({ ...file, offset });
      if (!outcome.ok) return outcome;
      // Taken only now: a buffer of a failed read would never be given back.
      const data = buffers === undefined || file.size === 0 ? Buffer.allocUnsafe(file.size) : buffers.take(file.size);
      data.set(new Uint8Array(this.#sharedMemory(), offset, file.size));
      return { ok: true, data };
    } finally {
      this.#give(slot);
    }
  }

  /**
   * lstat of each path and, for a regular file, access(R_OK), made on the thread: one message for
   * all of them instead of two trips through libuv's pool per path (look-paths.ts).
   */
  async look(paths: readonly string[]): Promise<ThreadLook[]> {
    return (await this.#thread.request({ look: paths })) as ThreadLook[];
  }

  #enqueue(job: SmallRead): Promise<SmallReadOutcome> {
    return new Promise((resolve, reject) => {
      this.#queued.push({ job, resolve, reject });
      if (this.#flushing || this.#batchesOut >= BATCHES_IN_FLIGHT) return;
      // Reads asked for in the same turn of the event loop go out in one message.
      this.#flushing = true;
      queueMicrotask(() => {
        this.#flushing = false;
        this.#flush();
      });
    });
  }

  #flush(): void {
    if (this.#queued.length === 0 || this.#batchesOut >= BATCHES_IN_FLIGHT) return;
    const batch = this.#queued;
    this.#queued = [];
    this.#batchesOut++;
    this.#thread
      .request({ read: batch.map((q) => q.job) })
      .then(
        (outcomes) => batch.forEach((q, i) => q.resolve((outcomes as SmallReadOutcome[])[i]!)),
        (err: unknown) => batch.forEach((q) => q.reject(err)),
      )
      .finally(() => {
        this.#batchesOut--;
        this.#flush();
      });
  }

  #sharedMemory(): SharedArrayBuffer {
    return (this.#shared ??= new SharedArrayBuffer(SLOTS * WHOLE_READ_BYTES));
  }

  stop(): Promise<void> {
    return this.#thread.stop();
  }

  #take(): Promise<number> {
    const slot = this.#free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #give(slot: number): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next(slot);
    else this.#free.push(slot);
  }
}
