/**
 * The p2pd protocol as a session driver: dials through the Connector and runs the sender, or runs
 * the receiver on an accepted connection, with admission through the manager's gate. A pairing
 * that arrives on an incoming connection goes to the pairing callback.
 */
import type { Logger } from '../log.js';
import type { Admission, OfferedEntry, OfferSummary } from './admission.js';
import type { AttemptResult, Connector, InboundConnection, InboundResult, InboundSession, OutgoingAttempt, SessionDriver } from './drivers.js';
import type { PairingIo } from './pairing.js';
import type { InboxStore } from './ports.js';
import { runReceiver, type IncomingOffer } from './receiver.js';
import { runSender } from './sender.js';
import { BlockDigestCache } from './digest-cache.js';
import { HashWorker } from './hash-offload.js';

export interface P2pdDriverOptions {
  localName: string;
  /** "p2pd/<version>", sent in HELLO. */
  software: string;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  /** Keep a partial file when the inbox's disk fills up (resume later) instead of deleting it. */
  keepPartialOnDiskFull: boolean;
  /**
   * Hash big files' blocks on a thread of their own. It takes about 0.7 CPU s per GiB off the
   * event loop, but costs a little more CPU in all: worth it only with a core to spare.
   */
  hashThread?: boolean;
}

/** Runs the responder side of a pairing that arrives on an incoming connection. */
export type PairingResponder = (request: { peerId: string; address: string; helloName: string; commit: string; io: PairingIo }) => Promise<void>;

export class P2pdDriver implements SessionDriver {
  readonly protocol = 'p2pd';
  readonly #log: Logger;
  readonly #connector: Connector;
  readonly #inbox: InboxStore;
  readonly #pairing: PairingResponder | undefined;
  readonly #opts: P2pdDriverOptions;
  /** The sender's block digests, shared by every send of this daemon (bounded). */
  readonly #digests = new BlockDigestCache();
  /** Hashes big files off the event loop when there is a core to spare; its thread comes and goes with the work. */
  readonly #hashing: HashWorker | undefined;

  constructor(deps: { logger: Logger; connector: Connector; inbox: InboxStore; pairing?: PairingResponder }, options: P2pdDriverOptions) {
    this.#log = deps.logger;
    this.#connector = deps.connector;
    this.#inbox = deps.inbox;
    this.#pairing = deps.pairing;
    this.#opts = { ...options };
    this.#hashing = options.hashThread === true ? new HashWorker() : undefined;
  }

  /** Timeouts and the disk-full rule may change while running (SIGHUP). */
  configure(options: Partial<Pick<P2pdDriverOptions, 'handshakeTimeoutMs' | 'idleTimeoutMs' | 'keepPartialOnDiskFull'>>): void {
    Object.assign(this.#opts, options);
  }

  async stop(): Promise<void> {
    await this.#hashing?.stop();
  }

  async send(attempt: OutgoingAttempt): Promise<AttemptResult> {
    const { signal } = attempt;
    const conn = await this.#connector.connect(attempt.query, { signal });
    // The session reads errors through its iterator; once it has ended, a late reset from the
    // peer must not become an unhandled 'error' event that takes the daemon down.
    conn.socket.on('error', (err) => this.#log.debug({ transfer: attempt.transferId, err: err.message }, 'socket error'));
    attempt.onConnected(conn.peer);
    const result = await runSender(
      { socket: conn.socket, source: attempt.source },
      {
        transferId: attempt.transferId,
        localName: this.#opts.localName,
        software: this.#opts.software,
        signal,
        handshakeTimeoutMs: this.#opts.handshakeTimeoutMs,
        idleTimeoutMs: this.#opts.idleTimeoutMs,
        onProgress: attempt.onProgress,
        onResume: attempt.onResume,
        onFileResult: attempt.onFileResult,
        baseProgress: attempt.baseProgress,
        digests: this.#digests,
        hashWorker: this.#hashing,
      },
    );
    return { ok: result.ok, files: result.files };
  }

  async receive(connection: InboundConnection, session: InboundSession): Promise<InboundResult> {
    const peer = connection.peer;
    const pairing = this.#pairing;
    let admission: Admission | undefined;
    const result = await runReceiver(
      { socket: connection.stream, store: this.#inbox },
      {
        peerId: peer.id,
        localName: this.#opts.localName,
        software: this.#opts.software,
        signal: session.signal,
        handshakeTimeoutMs: this.#opts.handshakeTimeoutMs,
        idleTimeoutMs: this.#opts.idleTimeoutMs,
        limits: session.limits,
        hashWorker: this.#hashing,
        ...(pairing === undefined
          ? {}
          : {
              pairing: (r: { peerName: string; commit: string; io: PairingIo }) => {
                session.phase?.('pairing');
                return pairing({ peerId: peer.id, address: peer.address, helloName: r.peerName, commit: r.commit, io: r.io });
              },
            }),
        authorize: (hello) => {
          admission = session.greet({ id: peer.id, claimedName: hello.name, protocol: this.protocol, verified: peer.verified });
        },
        onOffer: (offer, options) => {
          for (const r of offer.review?.refused ?? []) {
            this.#log.warn({ transfer: offer.transferId, index: r.index, name: r.name, code: r.code }, 'entry refused alone: its name cannot be made safe');
          }
          return session.offer(summarize(offer), options);
        },
        onProgress: session.onProgress,
        onResume: session.onResume,
        nameOf: (helloName) => admission?.name ?? helloName,
        keepPartialOnDiskFull: this.#opts.keepPartialOnDiskFull,
        onFile: session.onFile,
      },
    );
    return result.paired === true ? { files: [], bytes: 0, noTransfer: true } : { files: result.files, bytes: result.bytes };
  }
}

/** Entries of a waiting offer shown with their indexes (for renames and skips). */
const SHOWN_ENTRIES = 100;

/**
 * The offer as the gate and a person see it: with a review, the names it will land under and
 * what lands (refused entries left out and listed apart); without one, as the sender named it.
 */
function summarize(offer: IncomingOffer): OfferSummary {
  const review = offer.review;
  let largestFile = 0;
  for (const e of offer.entries) if (e.kind === 'file' && e.size > largestFile) largestFile = e.size;
  if (review === undefined) {
    return {
      transferId: offer.transferId,
      files: offer.filesTotal,
      entries: offer.entries.length,
      bytes: offer.totalBytes,
      largestFile,
      names: offer.entries.slice(0, 20).map((e) => e.path),
    };
  }
  const shown: OfferedEntry[] = [];
  for (let i = 0; i < offer.entries.length && shown.length < SHOWN_ENTRIES; i++) {
    const name = review.landingPath(i);
    if (name === undefined) continue;
    const e = offer.entries[i]!;
    shown.push({ index: i, name, kind: e.kind, size: e.size, ...(name === e.path ? {} : { cleaned: true }) });
  }
  return {
    transferId: offer.transferId,
    files: review.files,
    entries: offer.entries.length,
    bytes: review.bytes,
    largestFile,
    names: shown.slice(0, 20).map((e) => e.name),
    shown,
    refused: review.refused.slice(0, 20).map((r) => ({ ...r })),
    checkChoices: (choices) => review.checkChoices(choices),
  };
}
