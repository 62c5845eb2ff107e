/**
 * One file being received: a partial file in the inbox's partial directory, written through a
 * stream, then verified, synced and handed to its transfer to be placed under its final name. A
 * resumable one keeps its data and a journal of block digests when it stops early.
 */
import { lstat, unlink, type FileHandle } from 'node:fs/promises';
import { P2pdError } from '../errors.js';
import { BLOCK_SIZE } from '../protocol/messages.js';
import type { PartialFile } from '../transfer/ports.js';
import { errnoOf, storeError } from './inbox-errors.js';
import type { FileIdentity } from './inbox-guard.js';
import type { PlannedEntry } from './offer-plan.js';
import { displayName } from './safe-name.js';
import { FileSink } from './file-sink.js';
import { sealReceivedFile } from './seal-file.js';

/** Bytes of one block digest in a resume journal (SHA-256). */
export const DIGEST_BYTES = 32;
/** Bytes buffered before write() asks the receiver to wait: a few MiB keeps the disk busy while the
 * next data arrives; more only keeps TLS read buffers alive long enough to leave V8's young
 * generation, where they pile up as garbage until a major collection (docs/PERFORMANCE.md#memory). */
const WRITE_HIGH_WATER_MARK = 4 * 1024 * 1024;

/** What a partial file needs from the transfer it belongs to. */
export interface PartialFileOwner {
  /** Moves a finished partial file to its final name; returns the path relative to the inbox. */
  place(file: InboxPartialFile): Promise<string>;
  /** The file is no longer open (committed, kept or discarded). */
  forget(file: InboxPartialFile): void;
  releaseResumeKey(key: string): void;
}

/** Destroys the write stream and waits until it is closed (the FileHandle stays open). */
function closeStream(stream: FileSink): Promise<void> {
  return new Promise((resolvePromise) => {
    if (stream.closed) {
      resolvePromise();
      return;
    }
    stream.once('close', () => resolvePromise());
    stream.destroy();
  });
}

type PartialState = 'open' | 'committing' | 'committed' | 'failed' | 'discarded';

export class InboxPartialFile implements PartialFile {
  readonly stream: FileSink;
  readonly planned: PlannedEntry;
  readonly partialPath: string;
  /** The file that was opened (and checked) at partialPath: place() links it only if still there. */
  #identity: FileIdentity | undefined;
  readonly #transfer: PartialFileOwner;
  readonly #handle: FileHandle;
  #state: PartialState = 'open';
  /** The first write error of the data or the journal (ENOSPC, EIO), for commit() to report. */
  #streamError: Error | undefined;
  #committing: Promise<string> | undefined;
  #discarding: Promise<void> | undefined;
  #keeping: Promise<void> | undefined;

  readonly #resume: { key: string; journal: FileHandle; offset: number; position: number; writes: Promise<void> } | undefined;

  constructor(
    transfer: PartialFileOwner,
    planned: PlannedEntry,
    opened: { path: string; handle: FileHandle; identity?: FileIdentity },
    resume?: { key: string; journal: FileHandle; offset: number },
  ) {
    this.#transfer = transfer;
    this.planned = planned;
    this.partialPath = opened.path;
    this.#identity = opened.identity === undefined ? undefined : { dev: opened.identity.dev, ino: opened.identity.ino };
    this.#handle = opened.handle;
    const handle = opened.handle;
    this.#resume = resume === undefined ? undefined : { ...resume, position: (resume.offset / BLOCK_SIZE) * DIGEST_BYTES, writes: Promise.resolve() };
    // The descriptor stays open after 'finish' so commit can fsync, fchmod and futimes it.
    this.stream = new FileSink(handle, { highWaterMark: WRITE_HIGH_WATER_MARK, start: resume?.offset ?? 0 });
    // Keeps a write error (ENOSPC) for commit() and stops it from crashing the process when no
    // pipeline is listening; pipeline() still sees it through its own listener.
    this.stream.on('error', (err) => {
      this.#streamError ??= err;
    });
  }

  /** Known from the open (a resumed file) or from the commit's fstat (a new one). */
  get identity(): FileIdentity {
    if (this.#identity === undefined) throw new P2pdError('INTERNAL', 'the partial file has not been checked yet');
    return this.#identity;
  }

  commit(options: { signal: AbortSignal }): Promise<string> {
    if (this.#state !== 'open') {
      return Promise.reject(new P2pdError('INTERNAL', `partial file ${this.planned.index} cannot be committed: it is ${this.#state}`));
    }
    this.#state = 'committing';
    this.#committing = this.#commit(options.signal).then(
      (path) => {
        this.#state = 'committed';
        this.#transfer.forget(this);
        return path;
      },
      (err: unknown) => {
        this.#state = 'failed';
        throw storeError(err, `committing "${displayName(this.planned.entry.path)}"`);
      },
    );
    return this.#committing;
  }

  async #commit(signal: AbortSignal): Promise<string> {
    signal.throwIfAborted();
    await this.#finish();
    const handle = this.#handle;
    this.#identity = await sealReceivedFile(handle, this.planned, this.#identity);
    await closeStream(this.stream);
    await handle.close();
    signal.throwIfAborted();
    const placed = await this.#transfer.place(this);
    await this.#dropJournal();
    return placed;
  }

  /** Ends the stream and waits until every byte reached the descriptor. */
  async #finish(): Promise<void> {
    const stream = this.stream;
    if (this.#streamError !== undefined) throw this.#streamError;
    if (stream.destroyed) throw new P2pdError('INTERNAL', 'the partial file was destroyed before commit');
    if (stream.writableFinished) return;
    await new Promise<void>((resolvePromise, rejectPromise) => {
      const onFinish = (): void => {
        stream.off('error', onError);
        resolvePromise();
      };
      const onError = (err: Error): void => {
        stream.off('finish', onFinish);
        rejectPromise(err);
      };
      stream.once('finish', onFinish);
      stream.once('error', onError);
      if (!stream.writableEnded) stream.end();
    });
  }

  /**
   * Records a completed block's digest in the journal. The journal may run ahead of the data on
   * disk after a crash; a resume therefore uses the smaller of the two (see resumeState).
   */
  journal(digest: Buffer): void {
    const r = this.#resume;
    if (r === undefined) return;
    const position = r.position;
    r.position += DIGEST_BYTES;
    r.writes = r.writes
      .then(() => r.journal.write(digest, 0, DIGEST_BYTES, position))
      .then(
        () => undefined,
        (err: unknown) => {
          this.#streamError ??= err instanceof Error ? err : new Error(String(err));
        },
      );
  }

  /**
   * Stops here but keeps the data and its journal for a later resume (a plain partial is deleted).
   * Also after a commit that failed on a write error (disk full): what reached the disk is good.
   * Less than one complete block cannot be resumed from and is removed, journal included.
   */
  keep(): Promise<void> {
    // The session and the inbox's own close() may both ask; the first decides.
    if (this.#keeping !== undefined) return this.#keeping;
    const r = this.#resume;
    if (r === undefined || (this.#state !== 'open' && !(this.#state === 'failed' && this.#streamError !== undefined))) return this.discard();
    this.#state = 'discarded';
    this.#keeping = (async () => {
      await closeStream(this.stream);
      await r.writes;
      // Kept data is what a resume trusts without reading it again: put it on disk.
      await this.#handle.sync().catch(() => {});
      await r.journal.sync().catch(() => {});
      await this.#handle.close().catch(() => {});
      await r.journal.close().catch(() => {});
      const kept = await lstat(this.partialPath).catch(() => undefined);
      if (r.position === 0 || kept === undefined || kept.size < BLOCK_SIZE) {
        await unlink(this.partialPath).catch(() => {});
        await unlink(`${this.partialPath.slice(0, -'.part'.length)}.blocks`).catch(() => {});
      }
      this.#transfer.releaseResumeKey(r.key);
      this.#transfer.forget(this);
    })();
    return this.#keeping;
  }

  discard(): Promise<void> {
    if (this.#keeping !== undefined) return this.#keeping;
    this.#discarding ??= this.#discard();
    return this.#discarding;
  }

  async #discard(): Promise<void> {
    if (this.#committing !== undefined) await this.#committing.catch(() => {});
    if (this.#state === 'committed') return;
    this.#state = 'discarded';
    await closeStream(this.stream);
    await this.#handle.close().catch(() => {});
    await unlink(this.partialPath).catch((err: unknown) => {
      if (errnoOf(err) !== 'ENOENT') throw storeError(err, 'removing a partial file');
    });
    await this.#dropJournal();
    this.#transfer.forget(this);
  }

  async #dropJournal(): Promise<void> {
    const r = this.#resume;
    if (r === undefined) return;
    await r.writes;
    await r.journal.close().catch(() => {});
    await unlink(`${this.partialPath.slice(0, -'.part'.length)}.blocks`).catch(() => {});
    this.#transfer.releaseResumeKey(r.key);
  }
}
