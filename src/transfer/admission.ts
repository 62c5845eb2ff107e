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
import type {
  OfferSender,
  OfferSummary,
  OfferAnswer,
  PendingOffer,
  OfferOutcome,
  InboundConnectionView,
  Arrival,
  AdmissionEvents,
  IncomingPolicy,
  SpaceCheck,
  OfferLimits,
  AdmissionOptions,
  Admission,
} from './admission-types.js';
export type {
  OfferSender,
  OfferSummary,
  OfferedEntry,
  RefusedEntry,
  OfferAnswer,
  PendingOffer,
  OfferOutcome,
  InboundConnectionView,
  Arrival,
  AdmissionEvents,
  IncomingPolicy,
  SpaceCheck,
  OfferLimits,
  AdmissionOptions,
  Admission,
} from './admission-types.js';
import { copyOffer, ENDED_WHY, untrustedShare } from './admission-types.js';

/** Offers from unknown peers that may wait for a person's answer at once. */
export const MAX_PENDING_OFFERS = 32;
/** Connections of untrusted senders still reading their offer, from one address and in all. */
export const MAX_OFFERING_PER_ADDRESS = 4;
export const MAX_OFFERING = 16;
const DEFAULT_OFFER_TIMEOUT_MS = 30_000;
/** Offers that ended recently, remembered so that a late `accept` can say what became of them. */
const ENDED_OFFERS_KEPT = 64;
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
  readonly #ended = new Map<string, OfferOutcome>();
  readonly #arrivals = new Set<ArrivalEntry>();
  readonly #entries = new WeakMap<Arrival, ArrivalEntry>();
  #receiving = 0;
  /** Of `#receiving`, the slots held by peers the user does not trust. */
  #receivingUntrusted = 0;

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

  /** How long a connection may take to complete its offer. */
  get offerTimeoutMs(): number {
    return this.#opts.offerTimeoutMs ?? DEFAULT_OFFER_TIMEOUT_MS;
  }

  /** Registers an inbound connection (listed by `inbound()` until it becomes a transfer or ends). */
  arrive(connection: { peerId: string; address: string; protocol: string }): Arrival {
    const entry: ArrivalEntry = {
      peer: { id: connection.peerId, name: this.#policy.displayName({ id: connection.peerId, helloName: '' }) },
      address: connection.address,
      protocol: connection.protocol,
      since: new Date().toISOString(),
      phase: 'handshake',
      untrusted: false,
    };
    this.#arrivals.add(entry);
    const handle: Arrival = {
      address: entry.address,
      phase: (phase) => {
        entry.phase = phase;
      },
      leave: () => {
        this.#arrivals.delete(entry);
      },
    };
    this.#entries.set(handle, entry);
    return handle;
  }

  /** Inbound connections that are not transfers yet, oldest first. */
  inbound(): InboundConnectionView[] {
    return [...this.#arrivals].map((a) => ({ peer: { ...a.peer }, address: a.address, protocol: a.protocol, since: a.since, phase: a.phase }));
  }

  /**
   * Phase one: may this sender offer anything now? Throws the refusal (PEER_NOT_TRUSTED,
   * PEER_REFUSED, PEER_BUSY). A trusted sender takes its receiving slot now; any other takes one
   * only once its offer is complete and decided, and until then counts against the bounds on
   * connections still reading an offer.
   */
  greet(sender: OfferSender, arrival?: Arrival): Admission {
    const decision = this.#policy.decide({ id: sender.id, helloName: sender.claimedName, verified: sender.verified });
    const trusted = this.#policy.trusted?.({ id: sender.id, verified: sender.verified }) ?? decision === 'auto';
    const name = this.displayName(sender);
    const entry = arrival === undefined ? undefined : this.#entryOf(arrival);
    if (entry !== undefined) entry.peer.name = name;
    let holding = false;
    if (trusted) {
      this.#takeSlot(true);
      holding = true;
    } else if (entry !== undefined) {
      this.#checkOffering(entry.address);
      entry.untrusted = true;
    }
    arrival?.phase('offer');
    const take = (): void => {
      this.#takeSlot(trusted);
      holding = true;
    };
    const release = (): void => {
      if (!holding) return;
      holding = false;
      this.#receiving--;
      if (!trusted) this.#receivingUntrusted--;
    };
    return {
      sender,
      decision,
      name,
      offer: async (offer, options) => {
        this.checkLimits(offer);
        await this.#checkSpace(offer.bytes);
        if (decision === 'auto') {
          if (!holding) take();
          return undefined;
        }
        // An offer waiting for a person holds no receiving slot: strangers' offers must not keep
        // trusted peers out. Their number is bounded instead.
        if (this.#pending.size >= MAX_PENDING_OFFERS) throw new P2pdError('PEER_BUSY', `${this.#opts.localName} has too many offers waiting for an answer`);
        release();
        options.onWaiting?.();
        const choices = await this.#ask(offer, { id: sender.id, name, trusted }, options.signal);
        take();
        return choices;
      },
      release,
    };
  }

  /** Both phases at once, for protocols that learn sender and offer together. */
  async admit(sender: OfferSender, offer: OfferSummary, options: { signal: AbortSignal; onWaiting?: () => void; arrival?: Arrival }): Promise<Admission> {
    const admission = this.greet(sender, options.arrival);
    options.arrival?.leave();
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
      const ended = this.#ended.get(id);
      const why = ended === undefined ? `no offer waiting for an answer has the id ${id}` : `the offer ${id} ${ENDED_WHY[ended]}`;
      throw new P2pdError('OFFER_NOT_FOUND', `${why}; \`p2pd incoming\` lists the offers waiting`, {
        details: { id, ...(ended === undefined ? {} : { outcome: ended }) },
      });
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

  #takeSlot(trusted: boolean): void {
    const max = this.#opts.maxConcurrentIncoming;
    if (this.#receiving >= max) {
      throw new P2pdError('PEER_BUSY', `${this.#opts.localName} is receiving ${this.#receiving} transfers already; try again later`);
    }
    // Half the slots stay free for trusted peers, so that strangers cannot keep them out.
    if (!trusted && this.#receivingUntrusted >= untrustedShare(max)) {
      throw new P2pdError('PEER_BUSY', `${this.#opts.localName} is receiving from ${this.#receivingUntrusted} untrusted peers already; try again later`);
    }
    this.#receiving++;
    if (!trusted) this.#receivingUntrusted++;
  }

  #entryOf(arrival: Arrival): ArrivalEntry | undefined {
    return this.#entries.get(arrival);
  }

  /** Bounds the connections of untrusted senders that are still reading an offer. */
  #checkOffering(address: string): void {
    let here = 0;
    let all = 0;
    for (const a of this.#arrivals) {
      if (!a.untrusted || a.phase !== 'offer') continue;
      all++;
      if (a.address === address) here++;
    }
    if (here >= MAX_OFFERING_PER_ADDRESS || all >= MAX_OFFERING) {
      throw new P2pdError(
        'PEER_BUSY',
        `${this.#opts.localName} is reading too many offers from untrusted peers${here >= MAX_OFFERING_PER_ADDRESS ? ' at this address' : ''}; try again later`,
      );
    }
  }

  async #checkSpace(bytes: number): Promise<void> {
    if (this.#space === undefined) return;
    const free = await this.#space.freeBytes();
    const reserve = this.#opts.minFreeSpace;
    if (bytes + reserve > free) {
      // Name the reserve when it is what refuses the offer: "inbox full" on an empty disk misleads.
      const why =
        reserve > 0 && bytes <= free
          ? `${formatBytes(bytes)} needed and ${formatBytes(free)} free on its disk, but ${formatBytes(reserve)} must stay free ` +
            `(its limits.minFreeSpace reserve; ${this.#opts.localName}'s owner can lower it)`
          : `${formatBytes(bytes)} needed, ${formatBytes(free)} free on its disk` +
            (reserve > 0 ? ` (of which ${formatBytes(reserve)} is kept free by its limits.minFreeSpace reserve)` : '');
      throw new P2pdError('INSUFFICIENT_SPACE', `${this.#opts.localName}'s inbox has no room for this offer: ${why}`, {
        details: { needed: bytes, free, reserve },
      });
    }
  }

  /** Holds an offer until a person answers, the ask timeout passes or the signal aborts. */
  #ask(summary: OfferSummary, peer: { id: string; name: string; trusted: boolean }, signal: AbortSignal): Promise<AcceptChoices | undefined> {
    signal.throwIfAborted();
    const now = Date.now();
    const timeoutMs = this.#opts.askTimeoutMs;
    const offer: PendingOffer = {
      id: summary.transferId,
      peer: { id: peer.id, name: peer.name, trusted: peer.trusted },
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
        this.#ended.delete(offer.id);
        this.#ended.set(offer.id, outcome);
        if (this.#ended.size > ENDED_OFFERS_KEPT) this.#ended.delete(this.#ended.keys().next().value!);
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

interface ArrivalEntry extends Omit<InboundConnectionView, 'peer'> {
  peer: { id: string; name: string };
  /** Greeted as a sender the user does not trust: counts against the bounds on offers being read. */
  untrusted: boolean;
}
