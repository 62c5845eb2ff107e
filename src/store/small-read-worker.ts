/**
 * The thread of SmallFileReader: one small file per request, opened, checked, read whole and
 * checked again with synchronous calls (this thread may block; the event loop is elsewhere).
 * Nothing here decides what an outcome means: local-file-read.ts turns it into an error.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { serveRequests } from '../on-demand-worker.js';
import { isScannedFile, unchangedSince, type ScannedVersion } from './scanned-file.js';

const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = constants;

/** What the thread starts with: memory the main thread owns and copies the bytes out of. */
export interface SmallReadThreadData {
  shared: SharedArrayBuffer;
}

/**
 * A file found by the scan: it must still be that file (type, device, inode, size, mtime). Its
 * bytes go to the shared memory at `offset`.
 */
export interface SmallRead extends ScannedVersion {
  offset: number;
  path: string;
  follow: boolean;
}

/** `changed`: not the scanned file; otherwise a failure has the error code of the step that met it. */
export type SmallReadFailure = { ok: false; changed?: boolean; step?: 'open' | 'read'; code?: string; message?: string };
export type SmallReadOutcome = { ok: true } | SmallReadFailure;

function failed(err: unknown, step: 'open' | 'read'): SmallReadOutcome {
  const e = err as NodeJS.ErrnoException;
  return { ok: false, step, ...(e.code === undefined ? {} : { code: e.code }), message: e.message };
}

function readSmall(job: SmallRead, shared: SharedArrayBuffer): SmallReadOutcome {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO swapped in for the file does not wait for a writer.
    fd = openSync(job.path, O_RDONLY | O_NONBLOCK | (job.follow ? 0 : O_NOFOLLOW));
  } catch (err) {
    return failed(err, 'open');
  }
  try {
    const before = fstatSync(fd);
    if (!isScannedFile(before, job)) return { ok: false, changed: true };
    const data = new Uint8Array(shared, job.offset, job.size);
    let filled = 0;
    while (filled < job.size) {
      const n = readSync(fd, data, filled, job.size - filled, filled);
      if (n === 0) return { ok: false, changed: true };
      filled += n;
    }
    const after = fstatSync(fd);
    if (!unchangedSince(after, job)) return { ok: false, changed: true };
    return { ok: true };
  } catch (err) {
    return failed(err, 'read');
  } finally {
    closeSync(fd);
  }
}

const shared = (workerData as SmallReadThreadData | null)?.shared;
if (shared !== undefined) serveRequests<SmallRead, SmallReadOutcome>((job) => readSmall(job, shared));
