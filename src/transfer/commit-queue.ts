/**
 * The receiver's commits in flight: each finished file's verify-fsync-and-place runs as its own
 * job while the next files stream in, and their FILE_RESULTs go out in the order the files came
 * (PROTOCOL.md, "Results"). A sliding window bounds what is in flight: the receive loop waits for
 * the oldest commit only when the window is full.
 */
import { toP2pdError, type P2pdError } from '../errors.js';
import type { FileOutcome } from './progress.js';

export interface CommitWindow {
  /** Commits in flight at most. */
  maxFiles: number;
  /** Bytes of the files in flight at most (their data may still sit in write buffers). */
  maxBytes: number;
  /** Bytes of small files held whole in memory until their commit has written them. */
  maxHeldBytes: number;
}

export interface QueuedFile {
  index: number;
  /** The path as offered, for the outcome. */
  path: string;
  /** The file's size. */
  bytes: number;
  /** Of those, bytes this commit holds in memory (a small file's data); 0 for a streamed one. */
  held: number;
}

export class CommitQueue {
  readonly #onResult: (outcome: FileOutcome) => void;
  readonly #window: CommitWindow;
  /**
   * Commits not settled yet, oldest first; each settles to its outcome, never rejects. A settled
   * one leaves at once: a transfer of many files must not keep one per file.
   */
  readonly #pending = new Set<Promise<FileOutcome>>();
  /** Commits not settled yet, their bytes, and the bytes held for them. */
  readonly #inFlight = { files: 0, bytes: 0, held: 0 };
  #results: Promise<void> = Promise.resolve();

  /** `onResult` gets each outcome in order (it sends the FILE_RESULT); it may throw to end the transfer. */
  constructor(deps: { onResult: (outcome: FileOutcome) => void }, window: CommitWindow) {
    this.#onResult = deps.onResult;
    this.#window = window;
  }

  /** Commits not settled yet and the bytes held for them (for tests and progress). */
  get inFlight(): { files: number; bytes: number; held: number } {
    return { files: this.#inFlight.files, bytes: this.#inFlight.bytes, held: this.#inFlight.held };
  }

  /**
   * Starts `commit` (which verifies and places the file and returns where it landed) at once, and
   * resolves when the window has room for the next file. A commit that throws becomes a failed
   * outcome after `onFailure` (cleanup) ran: one file's failure never hides another's result.
   */
  async add(file: QueuedFile, commit: () => Promise<string>, onFailure: (error: P2pdError) => Promise<void>): Promise<void> {
    const { index, path, bytes, held } = file;
    const result: Promise<FileOutcome> = (async () => {
      try {
        return { index, path, ok: true, savedAs: await commit() };
      } catch (err) {
        const e = toP2pdError(err, 'INBOX_UNWRITABLE');
        await onFailure(e).catch(() => undefined);
        return { index, path, ok: false, error: { code: e.code, message: e.message } };
      }
    })();
    const inFlight = this.#inFlight;
    this.#pending.add(result);
    inFlight.files++;
    inFlight.bytes += bytes;
    inFlight.held += held;
    void result.then(() => {
      this.#pending.delete(result);
      inFlight.files--;
      inFlight.bytes -= bytes;
      inFlight.held -= held;
    });
    this.#results = this.#results.then(async () => this.#onResult(await result));
    const w = this.#window;
    // A sliding window: wait for the oldest commits, not for all of them.
    while (inFlight.files >= w.maxFiles || inFlight.bytes > w.maxBytes || inFlight.held > w.maxHeldBytes) {
      // Its own `then` above ran first: once awaited, it is out of the window.
      await this.#pending.values().next().value;
    }
  }

  /** Waits for every commit and every result to be sent; rejects when sending a result failed. */
  async drain(): Promise<void> {
    await Promise.all(this.#pending);
    await this.#results;
  }

  /** Like drain(), but never rejects: for the end of a transfer that failed. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#pending);
    await this.#results.catch(() => undefined);
  }
}
