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
export type TransferState = 'queued' | 'connecting' | 'waiting' | 'sending' | 'receiving' | 'verifying' | 'retrying' | 'done' | 'failed' | 'cancelled';

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
  /**
   * Files the receiver declined (a person skipped them, or their names could not be made safe)
   * in a transfer whose other files all arrived; such a transfer is `done`. Absent when none.
   */
  filesDeclined?: number;
  /** While data flows: the file moving now (its index in the offer, path, size and bytes so far). */
  current?: { index: number; path: string; bytes: number; bytesDone: number };
  /** "outbox" for a send the outbox started; absent for one a person started. */
  origin?: 'outbox';
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
  /** The first entries of the offer as they will land (names cleaned, refused ones left out), at most 20. */
  names: string[];
  /**
   * The first entries (at most 100) with the index that `accept` takes for a rename or a skip;
   * `cleaned` when an unsafe character was replaced or a reserved name suffixed.
   */
  entries?: Array<{ index: number; name: string; kind: 'file' | 'dir'; size: number; cleaned?: boolean }>;
  /** Entries refused alone because their names cannot be made safe (at most 20); the others may land. */
  refused?: Array<{ index: number; name: string; code: string; message: string }>;
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
  /**
   * Only for an item of a group folder (`@<group>/`): each member's state. The item moves to
   * `.sent/` once every member has it.
   */
  members?: OutboxMemberView[];
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
  /** Inbound connections that hold resources but are no transfer yet (handshake, offer, pairing). */
  inbound: InboundConnectionView[];
  /** Items waiting in or being sent from the outbox. */
  outbox: OutboxItemView[];
  /** The periodic jobs, their schedules and last runs. */
  jobs: JobView[];
}

export interface InboundConnectionView {
  peer: { id: string; name: string };
  address: string;
  protocol: string;
  /** When the connection was accepted (ISO 8601). */
  since: string;
  phase: 'handshake' | 'offer' | 'pairing';
}

// ── results of the methods that answer with more than one view ─────────────────────────────

export interface PeersResultView {
  peers: PeerView[];
}

export interface SendResultView {
  transfer: TransferView;
  skipped: Array<{ path: string; reason: string }>;
}

/** How a send to several peers ended: every peer got every file, some did, or none did. */
export type FanoutOutcome = 'done' | 'partial' | 'failed';

/** The result of `send-many`: one transfer per peer, in the order the peers were named. */
export interface SendManyResultView {
  transfers: TransferView[];
  skipped: Array<{ path: string; reason: string }>;
  /** `queued` only with `detach`, where the transfers have not ended yet. */
  outcome: FanoutOutcome | 'queued';
}

/** A member of a group: its id, and the name it is known by now (trusted name, else announced). */
export interface GroupMemberView {
  id: string;
  name: string;
  trusted: boolean;
  online: boolean;
}

export interface GroupView {
  name: string;
  members: GroupMemberView[];
  createdAt: string;
}

export interface GroupsResultView {
  groups: GroupView[];
}

/** `group-add` and `group-remove`: the group as it is now (null once its last member is removed). */
export interface GroupChangeResultView {
  group: GroupView | null;
  /** Ids added or removed by this call. */
  changed: string[];
}

/** One member's state of an outbox item of a group folder. */
export interface OutboxMemberView {
  id: string;
  name: string;
  state: 'done' | 'pending' | 'failed';
  transferId: string | null;
  lastError: ErrorView | null;
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

// ── the web dashboard ────────────────────────────────────────────────────────────────────────

export interface UiTokenView {
  /** Open this in a browser: the dashboard's address with the one-time token in the fragment. */
  url: string;
  /** The dashboard's address without the token. */
  origin: string;
  token: string;
  expiresAt: string;
}

export interface UiLoginView {
  /** Sent as `Authorization: Bearer <session>` with every dashboard request. */
  session: string;
  expiresAt: string;
}

export interface BrowseEntryView {
  name: string;
  kind: 'file' | 'dir' | 'other';
  /** Bytes, for files. */
  size: number | null;
}

export interface BrowseView {
  path: string;
  /** null at the root. */
  parent: string | null;
  entries: BrowseEntryView[];
  /** Entries left out beyond the listing's cap. */
  truncated: number;
}

export interface SettingsView {
  /** The config file changes are written to; null when the daemon runs on defaults alone. */
  file: string | null;
  /** The effective config. */
  config: Record<string, unknown>;
  /** Dotted keys `settings-set` may change. */
  editable: string[];
}
