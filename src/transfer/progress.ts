/** Progress and outcomes as sessions report them; the manager turns them into transfer records. */
import type { ErrorCode } from '../errors.js';

export type TransferPhase = 'queued' | 'connecting' | 'waiting' | 'sending' | 'receiving' | 'verifying' | 'done';

export interface TransferProgress {
  phase: TransferPhase;
  filesTotal: number;
  filesDone: number;
  filesFailed: number;
  bytesTotal: number;
  bytesDone: number;
  /** The file moving now (index in the offer, path as offered, size, bytes so far); absent between files. */
  file?: { index: number; path: string; bytes: number; bytesDone: number };
}

export interface FileOutcome {
  index: number;
  /** The path as offered (relative, "/"-separated). */
  path: string;
  ok: boolean;
  /** Its size in bytes. */
  bytes?: number;
  /** Receiver side: where it landed, relative to the inbox. */
  savedAs?: string;
  error?: { code: ErrorCode; message: string };
}

/** How often data progress is passed on: a report per TLS record cost more than it told anyone. */
export const PROGRESS_INTERVAL_MS = 50;

/** `fn`, called at most once per `ms` (the first call goes through). */
export function atMostEvery(ms: number, fn: () => void): () => void {
  let last = -Infinity;
  return () => {
    const now = performance.now();
    if (now - last < ms) return;
    last = now;
    fn();
  };
}
