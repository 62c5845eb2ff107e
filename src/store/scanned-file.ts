/**
 * What a send's scan saw of an entry (its lstat, made on the event loop or on the reading thread),
 * and the checks every read of a file makes (streamed, or whole on the reading thread): what was
 * opened must be that very file, unchanged.
 */
import type { Stats } from 'node:fs';

/** The file as scanned: where it was (device, inode) and which version of it (size, mtime). */
export interface ScannedVersion {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** What fstat found on the opened descriptor is the scanned file: regular, same inode, size and mtime. */
export function isScannedFile(st: { isFile(): boolean; dev: number; ino: number; size: number; mtimeMs: number }, scanned: ScannedVersion): boolean {
  return st.isFile() && st.dev === scanned.dev && st.ino === scanned.ino && st.size === scanned.size && st.mtimeMs === scanned.mtimeMs;
}

/** The file kept its size and mtime while it was read. */
export function unchangedSince(st: { size: number; mtimeMs: number }, scanned: ScannedVersion): boolean {
  return st.size === scanned.size && st.mtimeMs === scanned.mtimeMs;
}

/** What the scan's lstat found of an entry, as plain data (it crosses from the reading thread). */
export interface LookedStat {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  dev: number;
  ino: number;
  size: number;
  mode: number;
  mtimeMs: number;
}

export function lookedStat(st: Stats): LookedStat {
  const kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return { kind, dev: st.dev, ino: st.ino, size: st.size, mode: st.mode, mtimeMs: st.mtimeMs };
}
