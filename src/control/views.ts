/**
 * The documents the control API answers with, and that `--json` prints. They are a stable
 * interface (docs/CONTROL.md): fields may be added, never renamed, removed or retyped. They are
 * declared here, apart from the daemon's internal records, so that a client (the CLI, the web
 * dashboard) needs nothing but control/; the daemon maps its records to them (daemon/views.ts).
 */
import type { ErrorCode } from '../errors.js';

/** `{code, message}` of a failure, as every view carries it. */
export interface ErrorView {
  code: string;
  message: string;
}

/** Stable values; a value a client does not know means "still running" unless `endedAt` is set. */
export type TransferState =
  | 'queued'
  | 'connecting'
  | 'waiting'
  | 'sending'
  | 'receiving'
  | 'verifying'
  | 'retrying'
  | 'done'
  | 'failed'
  | 'cancelled';

/** One file's outcome in a finished transfer. */
export interface FileOutcomeView {
  index: number;
  /** The path as offered (relative, "/"-separated). */
  path: string;
  ok: boolean;
  /** Sender side: its size in bytes. */
  bytes?: number;
  /** Receiver side: where it landed, relative to the inbox. */
  savedAs?: string;
  error?: { code: ErrorCode; message: string };
}

/** A transfer as `p2pd status --json` shows it. */
export interface TransferView {
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
  error: ErrorView | null;
  /** Attempts made so far (outgoing). */
  attempts: number;
  /** Bytes of the files that were not sent again because the receiver kept them (resume). */
  resumedFrom: number;
  /** When the next attempt of a send in state "retrying" starts. */
  nextAttemptAt: string | null;
  /** Per-file outcomes, only in the result of a `send` that ran to its end. */
  files?: FileOutcomeView[];
}

/** An offer waiting for `p2pd accept` / `p2pd reject`, as `p2pd incoming --json` shows it. */
export interface IncomingOfferView {
  /** The transfer id; what `accept` and `reject` take. */
  id: string;
  peer: { id: string; name: string; trusted: boolean };
  files: number;
  bytes: number;
  /** The first entries of the offer as the sender named them (not yet checked), at most 20. */
  names: string[];
  receivedAt: string;
  expiresAt: string;
}

/** Stable values: exchange running, waiting for this side's person, confirmed here. */
export type PairingState = 'connecting' | 'confirm' | 'waiting-peer';

/** A pairing as `p2pd pair --list --json` shows it. */
export interface PairingView {
  /** What `p2pd pair --confirm <id>` takes. */
  id: string;
  direction: 'out' | 'in';
  peer: { id: string; name: string };
  /** "123 456" once known. */
  code: string | null;
  state: PairingState;
  createdAt: string;
  expiresAt: string;
}

/** Stable values shown by `p2pd status` and its --json output. */
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
  lastError: ErrorView | null;
  /** Of the running or last attempt. */
  transferId: string | null;
  /** ISO time the item was first seen. */
  since: string;
}

/** A periodic job as `p2pd status --json` shows it. */
export interface JobView {
  name: string;
  schedule: string;
  runs: number;
  lastRunAt: string | null;
  lastError: ErrorView | null;
  nextRunAt: string | null;
}

export interface IdView {
  name: string;
  id: string;
  /** The id in groups of four, for reading aloud. */
  fingerprint: string;
  shortId: string;
  port: number;
  version: string;
  protocolVersion: number;
  inbox: string;
  controlSocket: string;
}

export interface PeerView {
  id: string;
  shortId: string;
  /** The name the peer announces (or the trusted name when it is offline). */
  name: string;
  /** What to type to address it: the name, or name#short-id when several peers share the name. */
  displayName: string;
  /** "host:port" strings, most recent first. */
  addresses: string[];
  trusted: boolean;
  /** The name it was trusted under, if trusted. */
  trustedName: string | null;
  /** Seen over mDNS recently. */
  online: boolean;
  lastSeen: string | null;
  /**
   * Set when this untrusted peer announces the name of a trusted peer with another key: the
   * trusted name it claims. It never receives what is sent to that name.
   */
  impersonates: string | null;
  /** Which protocol it speaks: "p2pd", or "localsend" (a LocalSend app; its id is its certificate's fingerprint). */
  protocol?: 'p2pd' | 'localsend';
  /** False for a LocalSend device whose fingerprint no certificate proved (plain HTTP, or not yet registered). */
  verified?: boolean;
}

export interface StatusView {
  daemon: {
    name: string;
    id: string;
    version: string;
    pid: number;
    uptimeSeconds: number;
    port: number;
    inbox: string;
    peersOnline: number;
  };
  transfers: TransferView[];
  /** Items waiting in or being sent from the outbox. */
  outbox: OutboxItemView[];
  /** The periodic jobs, their schedules and last runs. */
  jobs: JobView[];
}

// ── results of the methods that answer with more than one view ─────────────────────────────

export interface PeersResultView {
  peers: PeerView[];
}

export interface SendResultView {
  transfer: TransferView;
  skipped: Array<{ path: string; reason: string }>;
}

export interface TrustResultView {
  peer: PeerView;
  fingerprint: string;
  alreadyTrusted: boolean;
}

export interface UntrustResultView {
  peer: PeerView;
  removed: boolean;
}

export interface CancelResultView {
  transfer: TransferView;
}

export interface IncomingResultView {
  offers: IncomingOfferView[];
  pairings: PairingView[];
}

export interface AnswerResultView {
  offer: IncomingOfferView;
  accepted: boolean;
}

export interface PairResultView {
  /** The peer, now trusted; only `{id, name}` should it be missing from the peer list. */
  peer: PeerView | { id: string; name: string };
  code: string;
  fingerprint: string;
  trusted: true;
}

export interface PairingsResultView {
  pairings: PairingView[];
}

export interface PairAnswerResultView {
  pairing: PairingView;
}
