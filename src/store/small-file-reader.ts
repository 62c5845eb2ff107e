/**
 * Small files read whole on a thread of their own. Through fs/promises each call for a small file
 * (open, two fstats, read, close) is a hand-off to libuv's pool and a callback on the event loop; a
 * thread that makes one file's calls synchronously is one message each way. Measured on 2,000
 * files of 4 KiB: about 180 µs of CPU per file through fs/promises, 40 on the thread
 * (docs/PERFORMANCE.md, "Small files, round three").
 */
import { OnDemandWorker } from '../on-demand-worker.js';
import type { SmallRead, SmallReadOutcome } from './small-read-worker.js';

export class SmallFileReader {
  readonly #thread: OnDemandWorker<SmallRead, SmallReadOutcome>;

  constructor(options: { idleMs?: number } = {}) {
    this.#thread = new OnDemandWorker(new URL('./small-read-worker.js', import.meta.url), { what: 'the file-reading thread', ...options });
  }

  /** Whether a thread is running now (tests: it comes and goes by itself). */
  get running(): boolean {
    return this.#thread.running;
  }

  /** Reads `file` (its `size` bytes at most) whole. */
  read(file: Omit<SmallRead, 'into'>): Promise<SmallReadOutcome> {
    const into = new ArrayBuffer(file.size);
    return this.#thread.request({ ...file, into }, [into]);
  }

  stop(): Promise<void> {
    return this.#thread.stop();
  }
}
