/**
 * What the transfer sessions need from the rest of the daemon. The consumer owns these
 * interfaces (STYLE.md, habit 5): store/ implements InboxStore; tests pass small fakes.
 */
import type { Writable } from 'node:stream';
import type { OfferEntry } from '../protocol/messages.js';

export interface SenderInfo {
  /** Peer id (52-char base32 fingerprint) proven by TLS. */
  id: string;
  /** Display name (already cleaned). */
  name: string;
}

export interface InboxStore {
  /**
   * Checks every entry of an offer (names, kinds, consistency) before any byte is accepted and
   * reserves where the offer's top-level entries will land. Throws P2pdError NAME_INVALID or
   * OFFER_INVALID; writes nothing under a final name.
   */
  prepare(
    offer: { transferId: string; entries: readonly OfferEntry[]; sender: SenderInfo },
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
   */
  read(index: number, options: { signal: AbortSignal }): AsyncIterable<Buffer>;
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
}
