/**
 * The admission gate: whether an incoming offer may land, for any inbound protocol. It sees the
 * offer and its sender in protocol-neutral terms and owns the rules: the accept policy and its
 * overrides (through IncomingPolicy), offer limits, free space, receiving slots, offers waiting for
 * a person (with a timeout) and the history line of a refusal that came before any transfer.
 *
 * Two phases, because a protocol may learn who is sending before it learns what: `greet()` decides
 * on the sender (and takes a receiving slot), `Admission.offer()` on the offer. `admit()` does both.
 */
import { EventEmitter } from 'node:events';
import { isRefusal, P2pdError } from '../errors.js';
import { formatBytes } from '../format-bytes.js';
import type { Logger } from '../log.js';
import type { AcceptChoices } from './ports.js';
import { newRecord, newTransferId, type HistoryStore } from './records.js';

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

/** Offers from unknown peers that may wait for a person's answer at once. */
export const MAX_PENDING_OFFERS = 32;
/** A refused peer gets one history line per this long, so that refused retries cannot flood it. */
const REFUSAL_LINE_EVERY_MS = 60_000;

export class AdmissionGate extends EventEmitter<AdmissionEvents> {
  readonly #log: Logger;
  readonly #policy: IncomingPolicy;
  readonly #space: SpaceCheck | undefined;
  readonly #history: HistoryStore | undefined;
  readonly #opts: AdmissionOptions;
  readonly #pending = new Map<
    string,
    { offer: PendingOffer; answer: (accept: boolean, choices?: AcceptChoices) => void; check: ((choices: AcceptChoices) => void) | undefined }
  >();
  #receiving = 0;

  constructor(deps: { logger: Logger; policy: IncomingPolicy; space?: SpaceCheck; history?: HistoryStore }, options: AdmissionOptions) {
    super();
    this.#log = deps.logger;
    this.#policy = deps.policy;
    this.#space = deps.space;
    this.#history = deps.history;
    this.#opts = { ...options, limits: { ...options.limits } };
  }

  /** Settings that may change while running (SIGHUP). */
  configure(options: Partial<AdmissionOptions>): void {
    Object.assign(this.#opts, options);
  }

  get limits(): Readonly<OfferLimits> {
    return this.#opts.limits;
  }

  /** Transfers holding a receiving slot now. */
  get receiving(): number {
    return this.#receiving;
  }

  /** The name to show for a sender. */
  displayName(sender: Pick<OfferSender, 'id' | 'claimedName'>): string {
    return this.#policy.displayName({ id: sender.id, helloName: sender.claimedName });
  }

  /** Phase one: may this sender offer anything now? Throws the refusal (PEER_NOT_TRUSTED, PEER_REFUSED, PEER_BUSY). */
  greet(sender: OfferSender): Admission {
    const decision = this.#policy.decide({ id: sender.id, helloName: sender.claimedName, verified: sender.verified });
    this.#takeSlot();
    let holding = true;
    const name = this.displayName(sender);
    return {
      sender,
      decision,
      name,
      offer: async (offer, options) => {
        this.checkLimits(offer);
        await this.#checkSpace(offer.bytes);
        if (decision === 'auto') return undefined;
        // An offer waiting for a person holds no receiving slot: strangers' offers must not keep
        // trusted peers out. Their number is bounded instead.
        if (this.#pending.size >= MAX_PENDING_OFFERS) throw new P2pdError('PEER_BUSY', `${this.#opts.localName} has too many offers waiting for an answer`);
        if (holding) {
          holding = false;
          this.#receiving--;
        }
        options.onWaiting?.();
        const choices = await this.#ask(offer, { id: sender.id, name }, options.signal);
        this.#takeSlot();
        holding = true;
        return choices;
      },
      release: () => {
        if (!holding) return;
        holding = false;
        this.#receiving--;
      },
    };
  }

  /** Both phases at once, for protocols that learn sender and offer together. */
  async admit(sender: OfferSender, offer: OfferSummary, options: { signal: AbortSignal; onWaiting?: () => void }): Promise<Admission> {
    const admission = this.greet(sender);
    try {
      await admission.offer(offer, options);
      return admission;
    } catch (err) {
      admission.release();
      throw err;
    }
  }

  /** The receiver's limits on an offer's size; throws OFFER_TOO_LARGE. */
  checkLimits(offer: Pick<OfferSummary, 'files' | 'entries' | 'bytes' | 'largestFile'>): void {
    const { limits } = this.#opts;
    const entries = offer.entries ?? offer.files;
    if (entries > limits.maxOfferFiles) {
      throw new P2pdError('OFFER_TOO_LARGE', `the offer has ${entries} entries; this receiver takes at most ${limits.maxOfferFiles}`);
    }
    if (limits.maxOfferBytes > 0 && offer.bytes > limits.maxOfferBytes) {
      throw new P2pdError('OFFER_TOO_LARGE', `the offer is ${offer.bytes} bytes; this receiver takes at most ${limits.maxOfferBytes}`);
    }
    if (limits.maxFileSize > 0 && offer.largestFile > limits.maxFileSize) {
      throw new P2pdError('OFFER_TOO_LARGE', `a file of ${offer.largestFile} bytes is over this receiver's limit of ${limits.maxFileSize}`);
    }
  }

  /** Offers waiting for a person's answer, oldest first. */
  incoming(): PendingOffer[] {
    return [...this.#pending.values()].map((p) => copyOffer(p.offer));
  }

  /**
   * A person's answer to a waiting offer: `true`/`false`, or `{ accept: true, to, files }` to choose
   * where it lands (a folder inside the inbox or a configured destination), rename files or skip
   * them. Choices are checked first (NAME_INVALID, USAGE): a refused choice leaves the offer waiting.
   */
  answer(id: string, answer: OfferAnswer): PendingOffer {
    const pending = this.#pending.get(id);
    if (pending === undefined) {
      throw new P2pdError('OFFER_NOT_FOUND', `no offer waiting for an answer has the id ${id}; \`p2pd incoming\` lists them`, { details: { id } });
    }
    const accept = typeof answer === 'boolean' ? answer : answer.accept === true;
    let choices: AcceptChoices | undefined;
    if (accept && typeof answer === 'object' && (answer.to !== undefined || (answer.files?.length ?? 0) > 0)) {
      choices = {
        ...(answer.to === undefined ? {} : { to: answer.to }),
        ...(answer.files === undefined ? {} : { files: answer.files.map((f) => ({ ...f })) }),
      };
      if (pending.check === undefined) throw new P2pdError('USAGE', `offer ${id} cannot be placed or renamed: its protocol does not support it`);
      pending.check(choices);
    }
    pending.answer(accept, choices);
    return pending.offer;
  }

  /**
   * A refusal that came before any transfer existed: still worth a line in the history ("why did
   * nothing arrive?"), but one per peer and minute ('repeated': the caller may stay quiet too).
   * Errors that are not refusals are ignored.
   */
  noteRefusal(sender: Pick<OfferSender, 'id'>, error: P2pdError): 'recorded' | 'repeated' | 'ignored' {
    if (this.#history === undefined || !isRefusal(error.code)) return 'ignored';
    const last = this.#history.list().find((r) => r.direction === 'in' && r.peer.id === sender.id);
    if (last !== undefined && last.error?.code === error.code && Date.now() - Date.parse(last.startedAt) < REFUSAL_LINE_EVERY_MS) {
      this.#log.debug({ peer: sender.id, code: error.code }, 'refused again');
      return 'repeated';
    }
    const record = newRecord(newTransferId(), 'in', { id: sender.id, name: this.#policy.displayName({ id: sender.id, helloName: '' }) });
    record.state = 'failed';
    record.endedAt = new Date().toISOString();
    record.error = { code: error.code, message: error.message };
    this.#history.add(record);
    return 'recorded';
  }

  #takeSlot(): void {
    if (this.#receiving >= this.#opts.maxConcurrentIncoming) {
      throw new P2pdError('PEER_BUSY', `${this.#opts.localName} is receiving ${this.#receiving} transfers already; try again later`);
    }
    this.#receiving++;
  }

  async #checkSpace(bytes: number): Promise<void> {
    if (this.#space === undefined) return;
    const free = await this.#space.freeBytes();
    const reserve = this.#opts.minFreeSpace;
    if (bytes + reserve > free) {
      throw new P2pdError(
        'INSUFFICIENT_SPACE',
        `${this.#opts.localName}'s inbox is full: ${formatBytes(bytes)} needed, ${formatBytes(Math.max(0, free - reserve))} free`,
        { details: { needed: bytes, free, reserve } },
      );
    }
  }

  /** Holds an offer until a person answers, the ask timeout passes or the signal aborts. */
  #ask(summary: OfferSummary, peer: { id: string; name: string }, signal: AbortSignal): Promise<AcceptChoices | undefined> {
    signal.throwIfAborted();
    const now = Date.now();
    const timeoutMs = this.#opts.askTimeoutMs;
    const offer: PendingOffer = {
      id: summary.transferId,
      peer: { id: peer.id, name: peer.name, trusted: false },
      files: summary.files,
      bytes: summary.bytes,
      names: summary.names.slice(0, 20),
      ...(summary.shown === undefined ? {} : { entries: summary.shown.slice(0, 100).map((e) => ({ ...e })) }),
      ...(summary.refused === undefined || summary.refused.length === 0 ? {} : { refused: summary.refused.slice(0, 20).map((r) => ({ ...r })) }),
      receivedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + timeoutMs).toISOString(),
    };
    this.#log.info({ transfer: offer.id, peer: peer.id }, 'offer waits for `p2pd accept`');
    return new Promise<AcceptChoices | undefined>((resolve, reject) => {
      const done = (outcome: OfferOutcome): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#pending.delete(offer.id);
        this.emit('offer-end', { id: offer.id, outcome });
      };
      const timer = setTimeout(() => {
        done('expired');
        reject(new P2pdError('PEER_REFUSED', `${this.#opts.localName} did not answer the offer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const onAbort = (): void => {
        done('cancelled');
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(offer.id, {
        offer,
        answer: (accept, choices) => {
          done(accept ? 'accepted' : 'rejected');
          if (accept) resolve(choices);
          else reject(new P2pdError('PEER_REFUSED', `${this.#opts.localName} rejected the offer`));
        },
        check: summary.checkChoices,
      });
      this.emit('offer', copyOffer(offer));
    });
  }
}

function copyOffer(o: PendingOffer): PendingOffer {
  return {
    ...o,
    peer: { ...o.peer },
    names: [...o.names],
    ...(o.entries === undefined ? {} : { entries: o.entries.map((e) => ({ ...e })) }),
    ...(o.refused === undefined ? {} : { refused: o.refused.map((r) => ({ ...r })) }),
  };
}
