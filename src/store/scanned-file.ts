/**
 * What a send's scan saw of a file, and the checks every read of it makes (streamed on the event
 * loop, or whole on the reading thread): what was opened must be that very file, unchanged.
 */

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
