/**
 * What the outbox needs from the rest of the daemon, declared here because the outbox is the
 * consumer (STYLE.md: "the consumer owns the interface"). daemon/outbox-wiring.ts implements these
 * on top of the transfer manager, the peer table and the trusted list; tests pass small fakes.
 */
import type { ErrorCode } from '../errors.js';

/** How one send of one outbox item ended. */
export type SendOutcome = { ok: true; transferId: string } | { ok: false; transferId: string | null; code: ErrorCode; message: string };

export interface OutboxSender {
  /**
   * Sends these absolute paths to the peer named by `peer` (the folder name: a trusted name,
   * name#short-id or an id); resolves when the transfer has ended, never rejects.
   */
  send(peer: string, paths: string[], options: { signal: AbortSignal }): Promise<SendOutcome>;
  /** Whether `peer` is online now; sends to offline peers are not attempted (they wait). */
  isOnline(peer: string): boolean;
}

export interface OutboxPeers {
  /** Names of the trusted peers: a folder is created for each. */
  trustedNames(): string[];
}

/** Where an item is in its life; stable values shown by `p2pd status` and its --json output. */
export type OutboxItemState = 'settling' | 'queued' | 'sending' | 'waiting-peer' | 'retrying';

/** One item of the outbox queue, as `p2pd status` shows it. */
export interface OutboxItemView {
  /** The peer folder's name. */
  peer: string;
  /** Relative to the outbox, "/"-separated, e.g. "bob/photos". */
  path: string;
  kind: 'file' | 'dir';
  bytes: number;
  state: OutboxItemState;
  attempts: number;
  lastError: { code: string; message: string } | null;
  /** Of the running or last attempt. */
  transferId: string | null;
  /** ISO time the item was first seen. */
  since: string;
}
