/**
 * The thread of SmallFileReader, with synchronous calls (this thread may block; the event loop is
 * elsewhere). A request is a batch: small files, each opened, checked, read whole and checked
 * again; or the scan's paths, each lstat'ed and, for a regular file, checked for reading.
 * Nothing here decides what an outcome means: local-file-read.ts and look-paths.ts turn it into an
 * error.
 */
import { accessSync, closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { serveRequests } from '../on-demand-worker.js';
import { isScannedFile, lookedStat, unchangedSince, type LookedStat, type ScannedVersion } from './scanned-file.js';

const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW, R_OK } = constants;

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

export interface ThreadErrno {
  code?: string;
  syscall: string;
  message: string;
}

/** A path looked at: its lstat, or why that failed; for a regular file, why it cannot be read. */
export interface ThreadLook {
  st?: LookedStat;
  failed?: ThreadErrno;
  unreadable?: ThreadErrno;
}

export type ThreadRequest = { read: SmallRead[] } | { look: readonly string[] };
export type ThreadReply = SmallReadOutcome[] | ThreadLook[];

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

function errno(err: unknown, syscall: string): ThreadErrno {
  const e = err as NodeJS.ErrnoException;
  return { ...(e.code === undefined ? {} : { code: e.code }), syscall, message: e.message };
}

function look(path: string): ThreadLook {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (err) {
    return { failed: errno(err, 'lstat') };
  }
  const found = lookedStat(st);
  if (found.kind !== 'file') return { st: found };
  try {
    accessSync(path, R_OK);
    return { st: found };
  } catch (err) {
    return { st: found, unreadable: errno(err, 'access') };
  }
}

const shared = (workerData as SmallReadThreadData | null)?.shared;
if (shared !== undefined) {
  serveRequests<ThreadRequest, ThreadReply>((req) => ('look' in req ? req.look.map(look) : req.read.map((job) => readSmall(job, shared))));
}
