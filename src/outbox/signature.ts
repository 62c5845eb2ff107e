/**
 * An item's signature: what must stay the same for `stableSeconds` before the item is sent, and
 * again after the send before it is moved away. For a file: its size and mtime. For a folder,
 * everything under it, recursively and without following symlinks: the number of entries, the total
 * size of the files and the newest mtime (of files, folders and links alike, so that adding,
 * removing or renaming anything shows).
 */
import { lstat, readdir } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';

export interface ItemSignature {
  readonly kind: 'file' | 'dir';
  /** Entries under a folder (files, folders, links, anything); 0 for a file. */
  readonly entries: number;
  /** A file's size, or the total size of the regular files under a folder. */
  readonly bytes: number;
  /** The newest mtime of the item and everything under it. */
  readonly mtimeMs: number;
}

/** What is at an item's path now. */
export type ItemProbe =
  | { readonly type: 'item'; readonly signature: ItemSignature }
  | { readonly type: 'gone' }
  /** A symlink or a special file (fifo, socket, device): never sent. */
  | { readonly type: 'unsupported'; readonly what: 'symlink' | 'special-file' };

export function sameSignature(a: ItemSignature, b: ItemSignature): boolean {
  return a.kind === b.kind && a.entries === b.entries && a.bytes === b.bytes && a.mtimeMs === b.mtimeMs;
}

/** Errors that mean "it went away while we looked": the item or an entry was removed or replaced. */
function vanished(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Looks at the item at `path` without following symlinks. Entries that vanish during a folder's
 * walk are left out (the next look sees a different count, so the clock restarts anyway). Other
 * errors (EACCES, EIO) are thrown.
 */
export async function probeItem(path: string, options: { signal?: AbortSignal } = {}): Promise<ItemProbe> {
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (err) {
    if (vanished(err)) return { type: 'gone' };
    throw err;
  }
  if (st.isSymbolicLink()) return { type: 'unsupported', what: 'symlink' };
  if (st.isFile()) return { type: 'item', signature: { kind: 'file', entries: 0, bytes: st.size, mtimeMs: st.mtimeMs } };
  if (!st.isDirectory()) return { type: 'unsupported', what: 'special-file' };
  try {
    return { type: 'item', signature: await folderSignature(path, st.mtimeMs, options.signal) };
  } catch (err) {
    // The folder itself went away (or became a file) while it was walked.
    if (vanished(err)) return probeItem(path, options);
    throw err;
  }
}

async function folderSignature(root: string, rootMtimeMs: number, signal: AbortSignal | undefined): Promise<ItemSignature> {
  let entries = 0;
  let bytes = 0;
  let mtimeMs = rootMtimeMs;
  const pending = [root];
  while (pending.length > 0) {
    signal?.throwIfAborted();
    const dir = pending.pop()!;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      // A sub-folder removed or replaced during the walk; the root is checked by the caller.
      if (dir !== root && vanished(err)) continue;
      throw err;
    }
    const stats = await Promise.all(
      names.map(async (name) => {
        const path = join(dir, name);
        try {
          return { path, st: await lstat(path) };
        } catch (err) {
          if (vanished(err)) return undefined;
          throw err;
        }
      }),
    );
    for (const found of stats) {
      if (found === undefined) continue;
      entries++;
      mtimeMs = Math.max(mtimeMs, found.st.mtimeMs);
      if (found.st.isFile()) bytes += found.st.size;
      else if (found.st.isDirectory()) pending.push(found.path);
    }
  }
  return { kind: 'dir', entries, bytes, mtimeMs };
}
