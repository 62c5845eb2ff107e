/**
 * The files a user asked to send: walks the given paths into offer entries and reads their bytes.
 * Symlinks named on the command line are followed; symlinks and special files found inside a
 * directory are skipped (and reported), so a send never leaves the tree the user chose.
 *
 * The tree may be writable by someone else, who can swap a file for a symlink or a FIFO between
 * the scan and the read: every file is opened without following a final symlink and without
 * blocking, and what was opened must be the very file that was scanned (type, device, inode,
 * size, mtime), or the file fails with SOURCE_CHANGED. A FIFO can therefore never stall the
 * daemon's event loop or its shutdown.
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { basename, join, resolve, sep } from 'node:path';
import { P2pdError } from '../errors.js';
import type { OfferEntry } from '../protocol/messages.js';
import type { ChunkBuffers } from '../transfer/chunk-pool.js';
import type { FileSource } from '../transfer/ports.js';
import { WHOLE_READ_BYTES, type SmallFileReader } from './small-file-reader.js';
import { readFileChunks, readWholeFile, sourceError } from './local-file-read.js';
import { checkReadable, lookAll } from './look-paths.js';
import { cleanRelativePath } from './safe-name.js';

export interface LocalSource extends FileSource {
  /**
   * Paths inside directories that were not sent, with why: "symlink", "special-file",
   * "unsafe-name" (a name no receiver would take, `message` says why) or "name-clash" (two names
   * that are the same once cleaned) (stable values).
   */
  readonly skipped: ReadonlyArray<{ path: string; reason: string; message?: string }>;
  /** Paths sent under a cleaned name (the receivers' rule, safe-name.ts): `as` is the offered path. */
  readonly renamed: ReadonlyArray<{ path: string; as: string }>;
}

export interface ScanOptions {
  signal?: AbortSignal;
  /**
   * Paths that are never sent, nor any directory holding them (the daemon's state directory with
   * its private key, the inbox's partial files): a send that names or contains one is refused.
   */
  protect?: readonly string[];
  /** Reads small files whole on a thread (small-file-reader.ts); without it every file streams. */
  reader?: SmallFileReader;
}

export interface Scanned {
  /** The path to open, and whether a final symlink may be followed (only for paths the user named). */
  path: string;
  follow: boolean;
  dev: number;
  ino: number;
}

export async function scanLocalPaths(paths: readonly string[], options: ScanOptions = {}): Promise<LocalSource> {
  const entries: OfferEntry[] = [];
  const absolute: Scanned[] = [];
  const guard = await protectedSet(options.protect ?? []);
  const skipped: Array<{ path: string; reason: string; message?: string }> = [];
  const renamed: Array<{ path: string; as: string }> = [];
  /** Offered paths so far: two names that clean to the same one cannot both be offered. */
  const used = new Set<string>();
  const topNames = new Set<string>();
  if (paths.length === 0) throw new P2pdError('USAGE', 'nothing to send: name at least one file or directory');

  for (const p of paths) {
    options.signal?.throwIfAborted();
    let st;
    try {
      st = await stat(p);
    } catch (err) {
      throw sourceError(err, p);
    }
    const top = offeredName(p, basename(p.replace(/[/\\]+$/, '')) || 'root');
    if (topNames.has(top)) throw new P2pdError('USAGE', `two of the paths are called "${top}"; send them separately`, { details: { path: p } });
    topNames.add(top);
    used.add(top);
    guard(p, st);
    await guard.inside(p);
    if (st.isFile()) {
      await checkReadable(p);
      entries.push(fileEntry(top, st, resolve(p)));
      absolute.push({ path: p, follow: true, dev: st.dev, ino: st.ino });
    } else if (st.isDirectory()) {
      entries.push(dirEntry(top, st));
      absolute.push({ path: p, follow: true, dev: st.dev, ino: st.ino });
      await walk(p, top);
    } else {
      throw new P2pdError('SOURCE_UNSUPPORTED', `${p} is neither a regular file nor a directory`, { details: { path: p } });
    }
  }

  async function walk(dir: string, rel: string): Promise<void> {
    // Depth-first with an explicit stack: deep trees must not exhaust the call stack.
    const stack: Array<{ dir: string; rel: string }> = [{ dir, rel }];
    while (stack.length > 0) {
      options.signal?.throwIfAborted();
      const { dir: d, rel: r } = stack.pop()!;
      let names: string[];
      try {
        names = (await readdir(d)).sort();
      } catch (err) {
        throw sourceError(err, d, 'the directory ');
      }
      const subdirs: Array<{ dir: string; rel: string }> = [];
      const looked = await lookAll(
        names.map((name) => join(d, name)),
        options.reader,
      );
      for (const [i, name] of names.entries()) {
        const abs = join(d, name);
        const { st, failed, unreadable } = looked[i]!;
        if (st === undefined) throw failed;
        guard(abs, st);
        const relPath = st.kind === 'file' || st.kind === 'dir' ? innerName(abs, r, name) : `${r}/${name}`;
        if (relPath === undefined) continue;
        if (st.kind === 'file') {
          if (unreadable !== undefined) throw unreadable;
          entries.push(fileEntry(relPath, st, resolve(abs)));
          absolute.push({ path: abs, follow: false, dev: st.dev, ino: st.ino });
        } else if (st.kind === 'dir') {
          entries.push(dirEntry(relPath, st));
          absolute.push({ path: abs, follow: false, dev: st.dev, ino: st.ino });
          subdirs.push({ dir: abs, rel: relPath });
        } else {
          skipped.push({ path: abs, reason: st.kind === 'symlink' ? 'symlink' : 'special-file' });
        }
      }
      stack.push(...subdirs.reverse());
    }
  }

  /** The name a path the user named is offered under; throws NAME_INVALID when it cannot be sent. */
  function offeredName(path: string, name: string): string {
    let cleaned;
    try {
      cleaned = cleanRelativePath(name);
    } catch (err) {
      if (!(err instanceof P2pdError)) throw err;
      throw new P2pdError('NAME_INVALID', `${path} cannot be sent under its name: ${err.message.replace(/^unsafe name "[^"]*": /, '')}; rename it first`, {
        cause: err,
        details: { path, reason: err.details?.['reason'] },
      });
    }
    if (cleaned.path !== name) renamed.push({ path, as: cleaned.path });
    return cleaned.path;
  }

  /** The offered path of an entry found inside a directory, or undefined (skipped, and why). */
  function innerName(abs: string, parent: string, name: string): string | undefined {
    const raw = `${parent}/${name}`;
    let offered: string;
    try {
      offered = cleanRelativePath(raw).path;
    } catch (err) {
      if (!(err instanceof P2pdError)) throw err;
      skipped.push({ path: abs, reason: 'unsafe-name', message: err.message });
      return undefined;
    }
    if (used.has(offered)) {
      skipped.push({ path: abs, reason: 'name-clash', message: `another file is sent as ${offered}` });
      return undefined;
    }
    used.add(offered);
    if (offered !== raw) renamed.push({ path: abs, as: offered });
    return offered;
  }

  return {
    entries,
    skipped,
    renamed,
    canStart: true,
    read(index: number, opts: { signal: AbortSignal; start?: number; buffers?: ChunkBuffers }): AsyncIterable<Buffer> {
      const entry = entries[index];
      const scanned = absolute[index];
      if (entry === undefined || scanned === undefined || entry.kind !== 'file') {
        throw new P2pdError('INTERNAL', `entry ${index} is not a file`);
      }
      const start = opts.start ?? 0;
      if (options.reader !== undefined && start === 0 && entry.size <= WHOLE_READ_BYTES)
        return readWholeFile(options.reader, scanned, entry, opts.signal, opts.buffers);
      return readFileChunks(scanned, entry, opts.signal, start, opts.buffers);
    },
  };
}

/** A check that refuses any path that is, or holds, one of `protect` (compared by device and inode). */
interface Guard {
  (path: string, st: { dev: number; ino: number }): void;
  /** Refuses a path named by the user that lies inside a protected one. */
  inside(path: string): Promise<void>;
}

async function protectedSet(protect: readonly string[]): Promise<Guard> {
  const keys = new Map<string, string>();
  const roots: string[] = [];
  for (const p of protect) {
    const real = await realpath(p).catch(() => undefined);
    if (real !== undefined) roots.push(real);
    // Every directory on the way to a protected path holds it: sending any of them would send it.
    for (let dir = resolve(p), last = ''; dir !== last; last = dir, dir = resolve(dir, '..')) {
      const st = await lstat(dir).catch(() => undefined);
      if (st !== undefined) keys.set(`${st.dev}:${st.ino}`, resolve(p));
    }
  }
  const refuse = (path: string, hit: string): never => {
    throw new P2pdError(
      'SOURCE_UNSUPPORTED',
      `${path} is, holds or lies in ${hit}, p2pd's own state (its private key, partial files): it is never sent; name the files you want to send instead`,
      { details: { path, protected: hit } },
    );
  };
  const guard = ((path: string, st: { dev: number; ino: number }): void => {
    const hit = keys.get(`${st.dev}:${st.ino}`);
    if (hit !== undefined) refuse(path, hit);
  }) as Guard;
  guard.inside = async (path) => {
    const real = await realpath(path).catch(() => resolve(path));
    const hit = roots.find((r) => real === r || real.startsWith(r + sep));
    if (hit !== undefined) refuse(path, hit);
  };
  return guard;
}

/**
 * The file's identity for resuming: where it is and which version of it (size, mtime, inode). An
 * edited file gets a new id, so a receiver never appends new bytes to an old file's prefix.
 */
function fileEntry(path: string, st: { size: number; mode: number; mtimeMs: number; ino: number; dev: number }, absolute: string): OfferEntry {
  const fileId = createHash('sha256').update(`p2pd file v1\0${absolute}\0${st.size}\0${st.mtimeMs}\0${st.ino}\0${st.dev}`).digest('hex');
  return { path, kind: 'file', size: st.size, mode: st.mode & 0o777, mtimeMs: st.mtimeMs, fileId };
}

function dirEntry(path: string, st: { mode: number; mtimeMs: number }): OfferEntry {
  return { path, kind: 'dir', size: 0, mode: st.mode & 0o777, mtimeMs: st.mtimeMs };
}
