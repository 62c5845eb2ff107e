/**
 * Checks an offer's entries as a whole before the store touches the disk. Pure: no I/O.
 * Every path goes through cleanRelativePath: a name that can be made safe is cleaned, one that
 * cannot is refused alone (the others still land); the landing entries must form a consistent tree.
 */
import { P2pdError } from '../errors.js';
import type { OfferEntry } from '../protocol/messages.js';
import type { AcceptChoices, OfferReview } from '../transfer/ports.js';
import { checkRelativePath, cleanRelativePath, displayName } from './safe-name.js';

/** Transfer ids become part of partial file names; the protocol allows exactly these. */
const TRANSFER_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** The range of a JavaScript Date; a file system may still refuse part of it. */
const MAX_TIME_MS = 8.64e15;

export interface PlannedEntry {
  readonly index: number;
  readonly entry: OfferEntry;
  /** Validated NFC components of where entry.path lands (cleaned, renamed). */
  readonly components: readonly string[];
}

export interface OfferPlan {
  /** How many entries the offer has. */
  readonly size: number;
  /**
   * The entry at `index` with its validated components, or undefined outside the offer or for an
   * entry that does not land (refused, skipped). Built on demand: an offer may hold a million
   * entries, and keeping an object and an array of components for each would cost more than the
   * entries themselves.
   */
  entry(index: number): PlannedEntry | undefined;
  /**
   * Top-level names that are directories (a "dir" entry or the first component of a deeper path),
   * in order of first appearance, with the explicit entry's mode when the offer has one.
   */
  readonly topDirs: ReadonlyMap<string, { explicitMode: number | undefined }>;
  /** Explicit "dir" entries, shallowest first. */
  readonly dirs: readonly PlannedEntry[];
  /** File entries that land. */
  readonly fileCount: number;
  /** Their bytes. */
  readonly fileBytes: number;
  /** Entries refused one by one because their name cannot be made safe (NAME_INVALID), by index. */
  readonly refused: ReadonlyMap<number, P2pdError>;
  /** Entries whose name was cleaned. */
  readonly cleaned: number;
}

/** What a person chose, checked: new last components and file entries to leave out. */
export interface PlanChoices {
  readonly rename?: ReadonlyMap<number, string>;
  readonly skip?: ReadonlySet<number>;
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
 * Turns a person's answer into plan choices, checking it against the offer: each index must be a
 * file entry of it, each rename one safe name (strict: a person is asked again rather than having
 * a name repaired). Throws USAGE or NAME_INVALID.
 */
export function checkChoices(entries: readonly OfferEntry[], files: AcceptChoices['files']): PlanChoices {
  const rename = new Map<number, string>();
  const skip = new Set<number>();
  for (const f of files ?? []) {
    const entry = Number.isSafeInteger(f.index) ? entries[f.index] : undefined;
    if (entry === undefined || entry.kind !== 'file') {
      throw new P2pdError('USAGE', `entry ${String(f.index)} is not a file of this offer`, { details: { index: f.index } });
    }
    if (f.skip === true) skip.add(f.index);
    if (f.rename !== undefined) {
      const components = checkRelativePath(f.rename);
      if (components.length !== 1) {
        throw new P2pdError('USAGE', `a new name is one name without "/": ${displayName(f.rename, 80)}`, { details: { index: f.index } });
      }
      rename.set(f.index, components[0]!);
    }
  }
  return { rename, skip };
}

/**
 * Validates every entry and the offer's shape, and decides each entry's name: cleaned when it can
 * be (cleanRelativePath), refused alone when it cannot. Throws OFFER_INVALID (details.reason:
 * bad-entry, bad-kind, bad-size, dir-size, bad-mode, bad-mtime, duplicate-path, file-as-directory),
 * OFFER_TOO_LARGE (a file over maxFileSize, when that is > 0), NAME_INVALID when entries were
 * refused and no file is left to land (details carry the first refusal's `reason` and `index`),
 * and for a rename that clashes with another entry.
 */
export function planOffer(entries: readonly OfferEntry[], options: { maxFileSize?: number; choices?: PlanChoices } = {}): OfferPlan {
  // `as unknown`: Array.isArray would narrow a readonly array to any[].
  if (!Array.isArray(entries as unknown)) invalid('bad-entry', 'the offer has no list of entries');
  const maxFileSize = options.maxFileSize ?? 0;
  const rename = options.choices?.rename;
  const skip = options.choices?.skip;
  /** The landing path of each entry, by index: the peer's own string when it was already safe NFC. */
  const paths: Array<string | undefined> = [];
  /** Path → index, for duplicates and parents; only while planning. */
  const byPath = new Map<string, number>();
  /** Entries whose path is not the sender's (cleaned or renamed): a clash with them is not the sender's fault. */
  const changed = new Set<number>();
  const refused = new Map<number, P2pdError>();
  const dirs: PlannedEntry[] = [];
  let cleaned = 0;

  entries.forEach((entry, index) => {
    let components = checkEntry(entry, index, maxFileSize, refused);
    if (components === undefined || skip?.has(index) === true) {
      paths.push(undefined);
      return;
    }
    if (components.repaired) {
      cleaned++;
      changed.add(index);
    }
    const newName = rename?.get(index);
    if (newName !== undefined) {
      components = { list: [...components.list.slice(0, -1), newName], repaired: components.repaired };
      changed.add(index);
    }
    const joined = components.list.length === 1 ? components.list[0]! : components.list.join('/');
    const path = joined === entry.path ? entry.path : joined;
    const seen = byPath.get(path);
    if (seen !== undefined) {
      // A person's new name that clashes goes back to the person, whichever entry comes first.
      const renamed = newName !== undefined ? index : rename?.has(seen) === true ? seen : undefined;
      if (renamed !== undefined) {
        throw new P2pdError('NAME_INVALID', `the new name of entry ${renamed} is taken by entry ${renamed === index ? seen : index}`, {
          details: { reason: 'name-clash', index: renamed },
        });
      }
      if (!changed.has(index) && !changed.has(seen)) invalid('duplicate-path', `entries ${seen} and ${index} have the same path`, index);
      refused.set(index, nameClash(entry, index, seen));
      paths.push(undefined);
      return;
    }
    byPath.set(path, index);
    paths.push(path);
    if (entry.kind === 'dir') dirs.push({ index, entry, components: components.list });
  });

  const topDirs = new Map<string, { explicitMode: number | undefined }>();
  let fileCount = 0;
  let fileBytes = 0;
  entries.forEach((entry, index) => {
    const path = paths[index];
    if (path === undefined) return;
    const firstSlash = path.indexOf('/');
    for (let slash = firstSlash; slash !== -1; slash = path.indexOf('/', slash + 1)) {
      const parent = byPath.get(path.slice(0, slash));
      if (parent !== undefined && entries[parent]!.kind === 'file') {
        invalid('file-as-directory', `entry ${index} lies inside entry ${parent}, which is a file`, index);
      }
    }
    if (entry.kind === 'file') {
      fileCount += 1;
      fileBytes += entry.size;
    }
    if (firstSlash !== -1 || entry.kind === 'dir') {
      const top = firstSlash === -1 ? path : path.slice(0, firstSlash);
      const known = topDirs.get(top);
      const explicitMode = firstSlash === -1 ? entry.mode : known?.explicitMode;
      topDirs.set(top, { explicitMode });
    }
  });
  // Refusing single entries makes sense only while something else still lands.
  if (refused.size > 0 && fileCount === 0 && (skip === undefined || skip.size === 0)) throw refused.values().next().value!;

  dirs.sort((a, b) => a.components.length - b.components.length || a.index - b.index);
  return {
    size: paths.length,
    entry(index: number): PlannedEntry | undefined {
      if (!Number.isSafeInteger(index) || index < 0 || index >= paths.length) return undefined;
      const path = paths[index];
      return path === undefined ? undefined : { index, entry: entries[index]!, components: path.split('/') };
    },
    topDirs,
    dirs,
    fileCount,
    fileBytes,
    refused,
    cleaned,
  };
}

function nameClash(entry: OfferEntry, index: number, seen: number): P2pdError {
  return new P2pdError('NAME_INVALID', `entry ${index}: "${displayName(entry.path, 80)}" lands under the same name as entry ${seen} once cleaned`, {
    details: { reason: 'name-clash', index },
  });
}

function checkEntry(entry: OfferEntry, index: number, maxFileSize: number, refused: Map<number, P2pdError>): { list: string[]; repaired: boolean } | undefined {
  if (typeof entry !== 'object' || entry === null) invalid('bad-entry', `entry ${index} is not an object`, index);
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
  try {
    const cleaned = cleanRelativePath(entry.path);
    return { list: cleaned.components, repaired: cleaned.repairs.length > 0 };
  } catch (err) {
    if (!(err instanceof P2pdError) || err.code !== 'NAME_INVALID') throw err;
    refused.set(index, new P2pdError(err.code, `entry ${index}: ${err.message}`, { details: { ...err.details, index } }));
    return undefined;
  }
}

/**
 * The review of an offer's names (InboxStore.review): the plan without choices, and a check of a
 * person's choices that runs the same planning with them (a rename may clash). `checkTo` checks
 * the destination the way the store at hand understands it.
 */
export function reviewOffer(entries: readonly OfferEntry[], options: { maxFileSize?: number; checkTo: (to: string) => void }): OfferReview {
  const plan = planOffer(entries, { maxFileSize: options.maxFileSize ?? 0 });
  return {
    refused: [...plan.refused].map(([index, e]) => ({ index, name: displayName(entries[index]!.path, 120), code: e.code, message: e.message })),
    files: plan.fileCount,
    bytes: plan.fileBytes,
    landingPath(index: number): string | undefined {
      return plan.entry(index)?.components.join('/');
    },
    checkChoices(choices: AcceptChoices): void {
      if (choices.to !== undefined) options.checkTo(choices.to);
      if (choices.files === undefined || choices.files.length === 0) return;
      planOffer(entries, { maxFileSize: options.maxFileSize ?? 0, choices: checkChoices(entries, choices.files) });
    },
  };
}

/** A folder inside the inbox chosen by a person: relative, and checked strictly like a name. */
export function checkFolderInInbox(to: string): string[] {
  if (typeof to === 'string' && to.startsWith('/')) {
    throw new P2pdError('NAME_INVALID', `${displayName(to, 80)} is not a folder inside the inbox nor one of the configured destinations`, {
      details: { reason: 'not-a-destination' },
    });
  }
  return checkRelativePath(to);
}
