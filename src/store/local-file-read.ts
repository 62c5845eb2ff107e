/**
 * Reading a file the scan found (local-source.ts): opened without following a final symlink (unless
 * the user named it) and without blocking, checked to be the very file scanned (type, device,
 * inode, size, mtime) before and after the read, or it fails with SOURCE_CHANGED.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { P2pdError } from '../errors.js';
import { DATA_CHUNK, type OfferEntry } from '../protocol/messages.js';
import type { ChunkBuffers } from '../transfer/chunk-pool.js';
import type { SmallFileReader } from './small-file-reader.js';
import type { Scanned } from './local-source.js';
import { isScannedFile, unchangedSince } from './scanned-file.js';

export async function* readFileChunks(scanned: Scanned, entry: OfferEntry, signal: AbortSignal, start: number, buffers?: ChunkBuffers): AsyncGenerator<Buffer> {
  const path = scanned.path;
  let fh;
  try {
    // O_NONBLOCK: opening a FIFO swapped in for the file returns at once instead of waiting for a
    // writer; regular files ignore it. O_NOFOLLOW: a symlink swapped in inside the tree fails.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | (scanned.follow ? 0 : constants.O_NOFOLLOW));
  } catch (err) {
    throw openError(err, path);
  }
  try {
    const version = { dev: scanned.dev, ino: scanned.ino, size: entry.size, mtimeMs: entry.mtimeMs };
    if (!isScannedFile(await fh.stat(), version)) throw changed(path);
    // A buffer per chunk in flight (it goes to the socket without a copy: the consumer says when
    // it may be used again, through `buffers`), and the next read starts before this chunk is
    // handed on, so the disk works while we send.
    const readChunk = async (position: number): Promise<Buffer> => {
      const want = Math.min(DATA_CHUNK, entry.size - position);
      const buf = buffers?.take(want) ?? Buffer.allocUnsafe(want);
      let filled = 0;
      while (filled < want) {
        const { bytesRead } = await fh.read(buf, filled, want - filled, position + filled);
        if (bytesRead === 0) throw changed(path);
        filled += bytesRead;
      }
      return buf;
    };
    let position = Math.min(start, entry.size);
    let next: Promise<Buffer> | undefined = position < entry.size ? readChunk(position) : undefined;
    while (next !== undefined) {
      signal.throwIfAborted();
      const buf = await next;
      position += buf.length;
      next = position < entry.size ? readChunk(position) : undefined;
      // A read left running when the consumer stops early must not become an unhandled rejection.
      next?.catch(() => undefined);
      yield buf;
    }
    if (!unchangedSince(await fh.stat(), version)) throw changed(path);
  } finally {
    await fh.close();
  }
}

/** All of a small file, read on the reader's thread in one message. */
export async function* readWholeFile(
  reader: SmallFileReader,
  scanned: Scanned,
  entry: OfferEntry,
  signal: AbortSignal,
  buffers?: ChunkBuffers,
): AsyncGenerator<Buffer> {
  signal.throwIfAborted();
  const { path, follow, dev, ino } = scanned;
  const outcome = await reader.read({ path, follow, dev, ino, size: entry.size, mtimeMs: entry.mtimeMs }, buffers);
  if (!outcome.ok) {
    if (outcome.changed === true) throw changed(path);
    const err = Object.assign(new Error(outcome.message ?? 'read failed'), { code: outcome.code });
    if (outcome.step === 'open') throw openError(err, path);
    throw sourceError(err, path);
  }
  signal.throwIfAborted();
  if (outcome.data.length > 0) yield outcome.data;
}

function openError(err: unknown, path: string): P2pdError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP' || code === 'ENXIO') return changed(path);
  if (code === 'EACCES' || code === 'EPERM') return sourceError(err, path);
  return new P2pdError('SOURCE_NOT_FOUND', `${path} can no longer be read: ${code ?? String(err)}`, { cause: err });
}

/** SOURCE_UNREADABLE for a permission problem, SOURCE_NOT_FOUND for anything else. */
export function sourceError(err: unknown, path: string, what = ''): P2pdError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new P2pdError('SOURCE_UNREADABLE', `cannot read ${what}${path}: permission denied for the daemon's user; make it readable or leave it out`, {
      cause: err,
      details: { path },
    });
  }
  return new P2pdError('SOURCE_NOT_FOUND', `cannot read ${what}${path}: ${code ?? String(err)}`, { cause: err, details: { path } });
}

export function changed(path: string): P2pdError {
  return new P2pdError('SOURCE_CHANGED', `${path} changed while it was being sent; send it again once it is complete`, { details: { path } });
}
