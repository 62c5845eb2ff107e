/**
 * Checks an offer's entries as a whole before the store touches the disk. Pure: no I/O.
 * Every path goes through checkRelativePath; the offer must then be a consistent tree.
 */
import { P2pdError } from '../errors.js';
import type { OfferEntry } from '../protocol/messages.js';
import { checkRelativePath } from './safe-name.js';

/** Transfer ids become part of partial file names; the protocol allows exactly these. */
const TRANSFER_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** The range of a JavaScript Date; a file system may still refuse part of it. */
const MAX_TIME_MS = 8.64e15;

export interface PlannedEntry {
  readonly index: number;
  readonly entry: OfferEntry;
  /** Validated NFC components of entry.path. */
  readonly components: readonly string[];
}

export interface OfferPlan {
  /** How many entries the offer has. */
  readonly size: number;
  /**
   * The entry at `index` with its validated components, or undefined outside the offer. Built on
   * demand: an offer may hold a million entries, and keeping an object and an array of components
   * for each of them would cost more than the entries themselves.
   */
  entry(index: number): PlannedEntry | undefined;
  /**
   * Top-level names that are directories (a "dir" entry or the first component of a deeper path),
   * in order of first appearance, with the explicit entry's mode when the offer has one.
   */
  readonly topDirs: ReadonlyMap<string, { explicitMode: number | undefined }>;
  /** Explicit "dir" entries, shallowest first. */
  readonly dirs: readonly PlannedEntry[];
  readonly fileCount: number;
}

function invalid(reason: string, message: string, index?: number): never {
  throw new P2pdError('OFFER_INVALID', message, { details: index === undefined ? { reason } : { reason, index } });
}

export function checkTransferId(transferId: unknown): string {
  if (typeof transferId !== 'string' || !TRANSFER_ID.test(transferId)) {
    invalid('bad-transfer-id', 'the transfer id must be 1 to 64 characters of A-Z, a-z, 0-9, "_" and "-"');
  }
  return transferId;
}

/**
 * Validates every entry and the offer's shape. Throws NAME_INVALID (an unsafe path; details carry
 * the name check's `reason` and the entry's `index`), OFFER_INVALID (details.reason: bad-entry,
 * bad-kind, bad-size, dir-size, bad-mode, bad-mtime, duplicate-path, file-as-directory) or
 * OFFER_TOO_LARGE (a file over maxFileSize, when that is > 0).
 */
export function planOffer(entries: readonly OfferEntry[], options: { maxFileSize?: number } = {}): OfferPlan {
  // `as unknown`: Array.isArray would narrow a readonly array to any[].
  if (!Array.isArray(entries as unknown)) invalid('bad-entry', 'the offer has no list of entries');
  const maxFileSize = options.maxFileSize ?? 0;
  /** The NFC path of each entry, by index: the peer's own string when it already was NFC. */
  const paths: string[] = [];
  /** Path → index, for duplicates and parents; only while planning. */
  const byPath = new Map<string, number>();
  const dirs: PlannedEntry[] = [];

  entries.forEach((entry, index) => {
    const components = checkEntry(entry, index, maxFileSize);
    const joined = components.length === 1 ? components[0]! : components.join('/');
    const path = joined === entry.path ? entry.path : joined;
    const seen = byPath.get(path);
    if (seen !== undefined) invalid('duplicate-path', `entries ${seen} and ${index} have the same path`, index);
    byPath.set(path, index);
    paths.push(path);
    if (entry.kind === 'dir') dirs.push({ index, entry, components });
  });

  const topDirs = new Map<string, { explicitMode: number | undefined }>();
  let fileCount = 0;
  entries.forEach((entry, index) => {
    const path = paths[index]!;
    const firstSlash = path.indexOf('/');
    for (let slash = firstSlash; slash !== -1; slash = path.indexOf('/', slash + 1)) {
      const parent = byPath.get(path.slice(0, slash));
      if (parent !== undefined && entries[parent]!.kind === 'file') {
        invalid('file-as-directory', `entry ${index} lies inside entry ${parent}, which is a file`, index);
      }
    }
    if (entry.kind === 'file') fileCount += 1;
    if (firstSlash !== -1 || entry.kind === 'dir') {
      const top = firstSlash === -1 ? path : path.slice(0, firstSlash);
      const known = topDirs.get(top);
      const explicitMode = firstSlash === -1 ? entry.mode : known?.explicitMode;
      topDirs.set(top, { explicitMode });
    }
  });

  dirs.sort((a, b) => a.components.length - b.components.length || a.index - b.index);
  return {
    size: paths.length,
    entry(index: number): PlannedEntry | undefined {
      if (!Number.isSafeInteger(index) || index < 0 || index >= paths.length) return undefined;
      return { index, entry: entries[index]!, components: paths[index]!.split('/') };
    },
    topDirs,
    dirs,
    fileCount,
  };
}

function checkEntry(entry: OfferEntry, index: number, maxFileSize: number): string[] {
  if (typeof entry !== 'object' || entry === null) invalid('bad-entry', `entry ${index} is not an object`, index);
  let components: string[];
  try {
    components = checkRelativePath(entry.path);
  } catch (err) {
    if (!(err instanceof P2pdError)) throw err;
    throw new P2pdError(err.code, `entry ${index}: ${err.message}`, { details: { ...err.details, index } });
  }
  if (entry.kind !== 'file' && entry.kind !== 'dir') invalid('bad-kind', `entry ${index} is neither a file nor a directory`, index);
  if (!Number.isSafeInteger(entry.size) || entry.size < 0) invalid('bad-size', `entry ${index} has an invalid size`, index);
  if (entry.kind === 'dir' && entry.size !== 0) invalid('dir-size', `entry ${index} is a directory with a non-zero size`, index);
  if (!Number.isSafeInteger(entry.mode) || entry.mode < 0) invalid('bad-mode', `entry ${index} has an invalid mode`, index);
  if (typeof entry.mtimeMs !== 'number' || !(Math.abs(entry.mtimeMs) <= MAX_TIME_MS)) {
    invalid('bad-mtime', `entry ${index} has an invalid modification time`, index);
  }
  if (entry.kind === 'file' && maxFileSize > 0 && entry.size > maxFileSize) {
    throw new P2pdError('OFFER_TOO_LARGE', `entry ${index} is ${entry.size} bytes, more than the ${maxFileSize} this inbox accepts`, {
      details: { index, size: entry.size, maxFileSize },
    });
  }
  return components;
}
