/**
 * Session drivers: the wire of one protocol. The manager keeps what every protocol shares (the
 * transfer's record, retries and backoff, progress, cancel, history, which files a retry need not
 * send again); a driver runs one attempt of a send, or one incoming connection, in its protocol.
 */
import type { Duplex } from 'node:stream';
import type { Admission, OfferLimits, OfferSender, OfferSummary } from './admission.js';
import type { AcceptChoices, FileSource } from './ports.js';
import type { FileOutcome, TransferProgress } from './progress.js';

/** A peer as the Connector resolves what the user typed. `id` is null for a bare host:port. */
export interface PeerAddress {
  /** Which driver speaks to it: "p2pd" today. */
  protocol: string;
  id: string | null;
  name: string;
}

/** A connection whose peer proved its id (TLS with a pinned key, for p2pd). */
export interface Connection {
  socket: Duplex;
  peer: { id: string; name: string };
}

/** Dials a peer by what the user typed; the composition root wires discovery and TLS into it. */
export interface Connector {
  resolve(query: string): PeerAddress;
  connect(query: string, options: { signal: AbortSignal }): Promise<Connection>;
}

/** One attempt of a send, as the manager hands it to a driver. */
export interface OutgoingAttempt {
  transferId: string;
  /** What to dial: what the user typed, or the peer's id once it has been reached. */
  query: string;
  peer: PeerAddress;
  /** The files still to send (a retry leaves out those already delivered). */
  source: FileSource;
  signal: AbortSignal;
  /** Files and bytes delivered by earlier attempts, counted into progress. */
  baseProgress: { files: number; bytes: number };
  /** The peer answered and proved who it is. */
  onConnected(peer: { id: string; name: string }): void;
  onProgress: (p: TransferProgress) => void;
  /** Bytes the receiver already had (resume). */
  onResume: (bytes: number) => void;
  /** Each file's verdict as it arrives. */
  onFileResult: (outcome: FileOutcome) => void;
}

export interface AttemptResult {
  /** Every file verified and the receiver agreed. */
  ok: boolean;
  files: FileOutcome[];
}

/** An accepted inbound connection, handed to the driver of its protocol. */
export interface InboundConnection {
  protocol: string;
  stream: Duplex;
  peer: { id: string; address: string; verified: boolean };
}

/** What the manager gives a driver for one inbound connection. */
export interface InboundSession {
  signal: AbortSignal;
  /** The receiver's offer limits, for checking an offer while it is still being read. */
  limits: Readonly<OfferLimits>;
  /** Admission, phase one: the sender. Throws the refusal; the manager frees the slot at the end. */
  greet(sender: OfferSender): Admission;
  /** The connection turned out to carry something else than an offer (a pairing, for p2pd). */
  phase?(phase: 'pairing'): void;
  /**
   * Admission, phase two: the offer, once the protocol has read and checked it. The manager opens
   * the transfer's record (under the sender's `offer.transferId` unless that id is taken here) and
   * asks the gate. Throws the refusal; resolves with a person's choices when there are any.
   * `signal` aborts a wait for a person's answer: the sender cancelled, or its connection ended.
   */
  offer(offer: OfferSummary, options?: { signal?: AbortSignal }): Promise<AcceptChoices | undefined>;
  onProgress: (p: TransferProgress) => void;
  onResume: (bytes: number) => void;
  onFile: (outcome: FileOutcome) => void;
}

export interface InboundResult {
  files: FileOutcome[];
  bytes: number;
  /** The connection carried no transfer (a pairing, for p2pd): nothing to record. */
  noTransfer?: boolean;
}

export interface SessionDriver {
  readonly protocol: string;
  /** Runs one attempt of a send; throws a P2pdError when it fails as a whole. */
  send(attempt: OutgoingAttempt): Promise<AttemptResult>;
  /** Runs an inbound connection through the admission gate (via `session`) to its end. */
  receive(connection: InboundConnection, session: InboundSession): Promise<InboundResult>;
  /** Ends what the driver keeps running between sessions, once every session has ended. */
  stop?(): Promise<void>;
}
