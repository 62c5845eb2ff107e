/**
 * What the transfer sessions need from the rest of the daemon. The consumer owns these
 * interfaces (STYLE.md, habit 5): store/ implements InboxStore; tests pass small fakes.
 */
import type { Writable } from 'node:stream';
import type { ErrorCode } from '../errors.js';
import type { OfferEntry } from '../protocol/messages.js';
import type { ChunkBuffers } from './chunk-pool.js';
import type { HashWorker } from './hash-offload.js';

export interface SenderInfo {
  /** Peer id (52-char base32 fingerprint) proven by TLS. */
  id: string;
  /** Display name (already cleaned). */
  name: string;
}

/**
 * A person's choices when accepting an offer (the prototype's save dialog): where it lands, and
 * per file entry a new name or a refusal. Indexes are the offer's entry indexes.
 */
export interface AcceptChoices {
  /** A folder inside the inbox ("a/b", created as needed), or one of the configured destinations (absolute). */
  to?: string;
  files?: ReadonlyArray<{ index: number; rename?: string; skip?: boolean }>;
}

/** The store's verdict on an offer's names, before anyone is asked. */
export interface OfferReview {
  /** Entries refused one by one (their names cannot be made safe; `name` escaped for display): skipped in ANSWER. */
  readonly refused: ReadonlyArray<{ index: number; name: string; code: ErrorCode; message: string }>;
  /** File entries that may land, and their bytes. */
  readonly files: number;
  readonly bytes: number;
  /** The path an entry lands under (cleaned where needed); undefined for a refused entry. */
  landingPath(index: number): string | undefined;
  /** Checks a person's choices against this offer; throws NAME_INVALID or USAGE, changes nothing. */
  checkChoices(choices: AcceptChoices): void;
}

export interface InboxStore {
  /**
   * Decides every entry's name before anyone is asked: cleans what can be cleaned, refuses single
   * entries whose name cannot be made safe. Throws (OFFER_INVALID, OFFER_TOO_LARGE, NAME_INVALID
   * when no file could land) to refuse the whole offer. Stores without it refuse a bad name whole.
   */
  review?(entries: readonly OfferEntry[]): OfferReview;
  /**
   * Checks every entry of an offer (names, kinds, consistency) before any byte is accepted and
   * reserves where the offer's top-level entries will land, following the person's `choices`.
   * Entries refused by review() or skipped by the person are left out. Throws P2pdError
   * NAME_INVALID or OFFER_INVALID; writes nothing under a final name.
   */
  prepare(
    offer: { transferId: string; entries: readonly OfferEntry[]; sender: SenderInfo; choices?: AcceptChoices },
    options: { signal: AbortSignal },
  ): Promise<PreparedTransfer>;
}

export interface PreparedTransfer {
  /**
   * Opens the partial file for the file entry at `index`, out of sight of the inbox. With a
   * `resumeKey`, the partial file of that key is reused from `offset` (a multiple of BLOCK_SIZE;
   * 0 starts it afresh) and outlives the transfer if it ends early, for a later resume.
   */
  openFile(index: number, options: { signal: AbortSignal; resumeKey?: string; offset?: number }): Promise<PartialFile>;
  /**
   * A whole file of at most one block, already verified (size and hash), in one call: written to
   * a new partial file, fsynced with its mode and mtime, then placed like `PartialFile.commit()`;
   * on failure nothing of it stays. Lets the receiver read on instead of waiting for each small
   * file's open. Stores without it get every file through `openFile()`.
   */
  saveSmallFile?(index: number, data: Buffer, options: { signal: AbortSignal }): Promise<string>;
  /**
   * What an earlier attempt kept for `resumeKey`: bytes of data and the journal (32-byte digests
   * of complete blocks, in order). Null when it cannot be resumed now (in use by another transfer).
   * Stores without resume leave it out.
   */
  resumeState?(resumeKey: string): Promise<{ bytes: number; journal: Buffer } | null>;
  /**
   * Ends the transfer in the store: removes every partial file that was not committed and any
   * reserved directory that stayed empty. Files already committed stay.
   */
  close(): Promise<void>;
}

export interface PartialFile {
  /** Where the data goes; honour write()'s return value. */
  readonly stream: Writable;
  /**
   * Flushes and fsyncs the data, applies mode (never setuid/setgid/sticky) and mtime, then moves
   * it into the inbox under its final name, never overwriting (a taken name becomes "name (1).ext").
   * Returns the final path relative to the inbox, with "/" separators.
   */
  commit(options: { signal: AbortSignal }): Promise<string>;
  /** Deletes the partial data; safe to call more than once or after a failed commit. */
  discard(): Promise<void>;
  /** Stops writing and keeps the data for a later resume (files opened without a resume key are discarded). */
  keep?(): Promise<void>;
  /** Records the SHA-256 digest of the block just written (resume journal). */
  journal?(digest: Buffer): void;
}

/** What a sender reads from: the offer's entries and the bytes of each file entry. */
export interface FileSource {
  readonly entries: readonly OfferEntry[];
  /**
   * The bytes of file entry `index`, exactly `entries[index].size` of them, in chunks of at most
   * DATA_CHUNK bytes. Throws P2pdError SOURCE_CHANGED if the file no longer matches its entry.
   * With `start` (a multiple of DATA_CHUNK), only the bytes from `start` on; a source that cannot
   * skip leaves `canStart` unset and is always read from 0. With `buffers`, chunks are read into
   * buffers taken from it (the caller gives them back when done); a source may ignore it.
   */
  read(index: number, options: { signal: AbortSignal; start?: number; buffers?: ChunkBuffers }): AsyncIterable<Buffer>;
  /** The source honours `read()`'s `start`. */
  readonly canStart?: boolean;
}

/** What every session over a connection needs, whichever side and purpose. */
export interface SessionOptions {
  /** This daemon's display name, sent in HELLO. */
  localName: string;
  /** "p2pd/<version>", sent in HELLO. */
  software: string;
  signal: AbortSignal;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  /** Hashes big files' blocks on a thread of their own; without it they are hashed in place. */
  hashWorker?: HashWorker;
}
