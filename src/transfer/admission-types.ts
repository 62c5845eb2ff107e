/**
 * The admission gate's vocabulary: who offers and what, the pending offers people answer, the
 * ports the gate needs (policy, free space) and its options. Protocol-neutral, like the gate.
 */
import type { AcceptChoices } from './ports.js';

/** Who offers, as the inbound protocol knows it. */
export interface OfferSender {
  /** The p2pd peer id (a TLS-proven key fingerprint), or what identifies the sender in its protocol. */
  id: string;
  /** The name the sender claims for itself (untrusted). */
  claimedName: string;
  /** "p2pd", or the name of another protocol. */
  protocol: string;
  /** Whether `id` is proven (a pinned key); an unproven id is never taken for a trusted peer. */
  verified: boolean;
}

/** What is offered, protocol-neutral. */
export interface OfferSummary {
  /** The id the transfer is known by here (what `p2pd accept` takes). */
  transferId: string;
  files: number;
  /** Entries counted against maxOfferFiles (files and folders); default `files`. */
  entries?: number;
  bytes: number;
  largestFile: number;
  /** The first names as they will land (cleaned where the protocol's store cleans); at most 20 are kept. */
  names: readonly string[];
  /** The first entries with their indexes (for a person's renames and skips); at most 100 are kept. */
  shown?: ReadonlyArray<OfferedEntry>;
  /** Entries refused one by one before anyone is asked (unsafe names); at most 20 are kept. */
  refused?: ReadonlyArray<RefusedEntry>;
  /** Checks a person's choices against the offer; throws (NAME_INVALID, USAGE) to refuse them. */
  checkChoices?: (choices: AcceptChoices) => void;
}

/** An entry of a waiting offer, under the name it will land with. */
export interface OfferedEntry {
  index: number;
  name: string;
  kind: 'file' | 'dir';
  size: number;
  /** The name was cleaned (an unsafe character replaced, a reserved name suffixed). */
  cleaned?: boolean;
}

/** An entry refused alone; `name` is the sender's, escaped for display. */
export interface RefusedEntry {
  index: number;
  name: string;
  code: string;
  message: string;
}

/** A person's answer: the plain boolean, or an acceptance with choices (where, renames, skips). */
export type OfferAnswer = boolean | ({ accept: boolean } & AcceptChoices);

/** An offer waiting for `p2pd accept` / `p2pd reject`. Field names are a stable interface (`p2pd incoming --json`). */
export interface PendingOffer {
  /** The transfer id; what `accept` and `reject` take. */
  id: string;
  peer: { id: string; name: string; trusted: boolean };
  files: number;
  bytes: number;
  /** The first entries of the offer as they will land (names cleaned, refused ones left out), at most 20. */
  names: string[];
  /** The first entries (at most 100) with the indexes that `accept` takes for renames and skips. */
  entries?: OfferedEntry[];
  /** Entries refused alone because their names cannot be made safe (at most 20); the rest may land. */
  refused?: RefusedEntry[];
  receivedAt: string;
  expiresAt: string;
}

export type OfferOutcome = 'accepted' | 'rejected' | 'expired' | 'cancelled';

/**
 * An inbound connection that holds resources but is not a transfer yet: still in its handshake,
 * still reading its offer, or carrying a pairing. Field names are a stable interface
 * (`p2pd status --json`, `inbound`).
 */
export interface InboundConnectionView {
  peer: { id: string; name: string };
  address: string;
  protocol: string;
  /** When the connection was accepted (ISO 8601). */
  since: string;
  phase: 'handshake' | 'offer' | 'pairing';
}

/** The gate's handle on one inbound connection until it becomes a transfer or ends. */
export interface Arrival {
  readonly address: string;
  phase(phase: InboundConnectionView['phase']): void;
  /** The connection became a transfer, or ended; safe to call more than once. */
  leave(): void;
}

export interface AdmissionEvents {
  /** An offer started waiting for a person. */
  offer: [PendingOffer];
  /** An offer left the waiting list. */
  'offer-end': [{ id: string; outcome: OfferOutcome }];
}

export interface IncomingPolicy {
  /**
   * What to do with this peer's offers: land at once ("auto") or wait for a user ("ask"). Throws
   * a P2pdError (PEER_NOT_TRUSTED, PEER_REFUSED) to refuse the peer before any offer is read.
   * `verified: false` (an id its protocol did not prove) must not match a trusted peer.
   */
  decide(peer: { id: string; helloName: string; verified?: boolean }): 'auto' | 'ask';
  /** The name to show for a peer: the trusted name, the announced one, or the name it claims. */
  displayName(peer: { id: string; helloName: string }): string;
  /**
   * Whether this peer is one the user trusts (capacity is kept for those). Without it, a peer
   * whose offers land at once counts as trusted.
   */
  trusted?(peer: { id: string; verified?: boolean }): boolean;
}

/** How much room the inbox has, for refusing offers that would not fit. */
export interface SpaceCheck {
  freeBytes(): Promise<number>;
}

export interface OfferLimits {
  maxOfferFiles: number;
  /** 0 = no limit */
  maxOfferBytes: number;
  /** 0 = no limit */
  maxFileSize: number;
}

export interface AdmissionOptions {
  localName: string;
  /** How long an offer waits for a person before it is refused. */
  askTimeoutMs: number;
  /** Bytes that must stay free after an offer. */
  minFreeSpace: number;
  maxConcurrentIncoming: number;
  /** How long a connection may take from its start to a complete offer (or a pairing request); default 30 s. */
  offerTimeoutMs?: number;
  limits: OfferLimits;
}

/** A sender let in by `greet()`: holds a receiving slot until `release()`. */
export interface Admission {
  readonly sender: OfferSender;
  readonly decision: 'auto' | 'ask';
  /** The name to show and file the sender under. */
  readonly name: string;
  /**
   * Decides on the offer: limits, free space, and for "ask" a person's answer (the slot is given
   * back while waiting and taken again after). Throws the refusal. `onWaiting` runs when the offer
   * starts waiting for a person.
   */
  offer(offer: OfferSummary, options: { signal: AbortSignal; onWaiting?: () => void }): Promise<AcceptChoices | undefined>;
  /** Frees the receiving slot; safe to call more than once. */
  release(): void;
}

/** What `accept` or `reject` on an offer that no longer waits tells the person. */
export const ENDED_WHY: Record<OfferOutcome, string> = {
  accepted: 'was accepted already',
  rejected: 'was rejected already',
  expired: 'expired: nobody answered it in time, and the sender was told',
  cancelled: 'no longer exists: the sender cancelled it or its connection ended',
};

/** The receiving slots untrusted senders may hold together: half, but at least one. */
export function untrustedShare(max: number): number {
  return Math.max(1, Math.floor(max / 2));
}

export function copyOffer(o: PendingOffer): PendingOffer {
  return {
    ...o,
    peer: { ...o.peer },
    names: [...o.names],
    ...(o.entries === undefined ? {} : { entries: o.entries.map((e) => ({ ...e })) }),
    ...(o.refused === undefined ? {} : { refused: o.refused.map((r) => ({ ...r })) }),
  };
}
