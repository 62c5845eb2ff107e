/**
 * The stream a partial file is written through: positional `writev`s of whatever the receiver
 * queued while the previous write ran, and a `fdatasync` in the background after every
 * `syncEveryBytes`. Without it the page cache holds the whole file until the commit's fsync, which
 * then writes it all out while the sender waits for its verdict: about 0.8 s per GiB here. With
 * it the disk works while the data arrives, the commit flushes only the tail, and the dirty pages
 * a big transfer leaves in memory stay bounded. The owner keeps (and closes) the descriptor.
 */
import { Writable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';

export const SYNC_EVERY_BYTES = 32 * 1024 * 1024;

export class FileSink extends Writable {
  readonly #handle: FileHandle;
  readonly #syncEvery: number;
  #position: number;
  #unsynced = 0;
  #syncing: Promise<void> | undefined;
  #writing: Promise<void> | undefined;
  #syncError: Error | undefined;
  /** Bytes that reached the descriptor (what `fs.WriteStream` calls `bytesWritten`). */
  bytesWritten = 0;

  constructor(handle: FileHandle, options: { start: number; highWaterMark: number; syncEveryBytes?: number }) {
    // No autoDestroy: after 'finish' the owner still fsyncs and closes; closing is its call.
    super({ highWaterMark: options.highWaterMark, decodeStrings: true, autoDestroy: false });
    this.#handle = handle;
    this.#position = options.start;
    this.#syncEvery = options.syncEveryBytes ?? SYNC_EVERY_BYTES;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#track(this.#writeAll([chunk])).then(() => callback(), callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    this.#track(this.#writeAll(chunks.map((c) => c.chunk))).then(() => callback(), callback);
  }

  /** 'close' comes only once no write or sync is running: the owner may then sync and close. */
  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const settle = (): Promise<unknown> => Promise.allSettled([this.#writing, this.#syncing]);
    void settle().then(() => callback(err));
  }

  /** Every byte written has been handed to the descriptor; the background sync must end too. */
  override _final(callback: (err?: Error | null) => void): void {
    const syncing = this.#syncing ?? Promise.resolve();
    syncing.then(() => callback(this.#syncError ?? null), callback);
  }

  #track(writing: Promise<void>): Promise<void> {
    this.#writing = writing;
    return writing;
  }

  async #writeAll(buffers: Buffer[]): Promise<void> {
    if (this.#syncError !== undefined) throw this.#syncError;
    let pending = buffers;
    while (pending.length > 0) {
      const { bytesWritten } = await this.#handle.writev(pending, this.#position);
      if (bytesWritten === 0 && pending.some((b) => b.length > 0)) throw Object.assign(new Error('the file took no bytes'), { code: 'EIO' });
      this.#position += bytesWritten;
      this.bytesWritten += bytesWritten;
      this.#unsynced += bytesWritten;
      pending = rest(pending, bytesWritten);
    }
    if (this.#unsynced >= this.#syncEvery && this.#syncing === undefined) this.#syncInBackground();
  }

  #syncInBackground(): void {
    this.#unsynced = 0;
    this.#syncing = this.#handle.datasync().then(
      () => {
        this.#syncing = undefined;
      },
      (err: unknown) => {
        this.#syncing = undefined;
        // A failed flush (EIO, ENOSPC on some file systems) fails the file at its next write or at
        // its end, never silently.
        this.#syncError ??= err instanceof Error ? err : new Error(String(err));
      },
    );
  }
}

/** What is left of `buffers` after the first `written` bytes went out (a short write). */
function rest(buffers: Buffer[], written: number): Buffer[] {
  let skip = written;
  let i = 0;
  while (i < buffers.length && skip >= buffers[i]!.length) {
    skip -= buffers[i]!.length;
    i++;
  }
  if (i === buffers.length) return [];
  return [buffers[i]!.subarray(skip), ...buffers.slice(i + 1)];
}
