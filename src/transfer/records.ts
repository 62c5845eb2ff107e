/**
 * The manager's own record of a transfer, running or ended. The history in state.json stores
 * these records as they are, and `p2pd status --json` shows the same fields: the field names are
 * a stable interface.
 */
import { randomBytes } from 'node:crypto';
import { isRefusal } from '../errors.js';
import type { FileOutcome } from './progress.js';

export type TransferState = 'queued' | 'connecting' | 'waiting' | 'sending' | 'receiving' | 'verifying' | 'retrying' | 'done' | 'failed' | 'cancelled';

export interface TransferRecord {
  id: string;
  direction: 'out' | 'in';
  peer: { id: string | null; name: string };
  state: TransferState;
  filesTotal: number;
  filesDone: number;
  filesFailed: number;
  bytesTotal: number;
  bytesDone: number;
  /** Average rate since data started flowing. */
  bytesPerSecond: number;
  startedAt: string;
  endedAt: string | null;
  error: { code: string; message: string } | null;
  /** Attempts made so far (outgoing); a send interrupted by something that may heal is retried. */
  attempts: number;
  /** Bytes of the files that were not sent again because the receiver kept them (resume). */
  resumedFrom: number;
  /** When the next attempt of a send in state "retrying" starts. */
  nextAttemptAt: string | null;
  /**
   * Files the receiver declined on its own choice (a person skipped them, or their names could not
   * be made safe) in a transfer whose other files all arrived: it ends `done`, not `failed`.
   * Absent when none was.
   */
  filesDeclined?: number;
  /** The file moving now and its bytes so far, while data flows; absent otherwise. */
  current?: { index: number; path: string; bytes: number; bytesDone: number };
  /** Per-file outcomes (in finished transfers; at most MAX_FILES_IN_RECORD). */
  files?: FileOutcome[];
  /** Set for a send the outbox started (a file dropped into a peer's folder). */
  origin?: 'outbox';
}

/** Where ended transfers go (state.json in the daemon). */
export interface HistoryStore {
  add(record: TransferRecord): void;
  list(): TransferRecord[];
}

export const MAX_FILES_IN_RECORD = 1000;

export function newRecord(id: string, direction: 'out' | 'in', peer: { id: string | null; name: string }): TransferRecord {
  return {
    id,
    direction,
    peer: { id: peer.id, name: peer.name },
    state: 'queued',
    filesTotal: 0,
    filesDone: 0,
    filesFailed: 0,
    bytesTotal: 0,
    bytesDone: 0,
    bytesPerSecond: 0,
    startedAt: new Date().toISOString(),
    endedAt: null,
    error: null,
    attempts: direction === 'out' ? 1 : 0,
    resumedFrom: 0,
    nextAttemptAt: null,
  };
}

/**
 * How many files the receiver declined, when that is the only reason some files did not arrive
 * and at least one did: such a transfer is done. Undefined otherwise (none declined, or a real
 * failure among them, or nothing landed at all).
 */
export function declinedOnly(files: readonly FileOutcome[]): number | undefined {
  const failed = files.filter((f) => !f.ok);
  if (failed.length === 0 || failed.length === files.length) return undefined;
  return failed.every((f) => f.error !== undefined && isRefusal(f.error.code)) ? failed.length : undefined;
}

export function withoutFiles(record: TransferRecord): TransferRecord {
  const { files: _files, ...rest } = record;
  return { ...rest };
}

/** Short, unambiguous, easy to type: 10 base32 characters (50 bits). */
export function newTransferId(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const bytes = randomBytes(10);
  let s = '';
  for (const b of bytes) s += alphabet[b & 31];
  return s;
}

/** A running transfer as the manager tracks it (not exported from transfer/). */
export interface Tracked {
  record: TransferRecord;
  controller: AbortController;
  done: Promise<TransferRecord>;
  /** When data started flowing in the current attempt. */
  dataStartedAt: number | null;
  lastEmit: number;
  /** Ends a retry wait early. */
  wake: (() => void) | undefined;
  /** bytesDone when data started flowing in the current attempt. */
  rateBase: number;
}
