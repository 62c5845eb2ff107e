/**
 * Every transfer of the daemon, both directions: queueing, concurrency limits, cancellation,
 * progress for the control socket, and the history kept in state.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { P2pdError, toP2pdError } from '../errors.js';
import { formatBytes } from '../format-bytes.js';
import type { Logger } from '../log.js';
import type { FileSource, InboxStore } from './ports.js';
import type { FileOutcome, TransferProgress } from './progress.js';
import { runReceiver, type IncomingOffer, type ReceiveLimits } from './receiver.js';
import { runSender } from './sender.js';
import type { PairingIo } from './pairing.js';
import { Semaphore } from './semaphore.js';

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

/** A transfer as `p2pd status --json` shows it. Field names are a stable interface. */
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
  error: { code: string; message: string } | null;
  /** Attempts made so far (outgoing); a send interrupted by something that may heal is retried. */
  attempts: number;
  /** Bytes of the files that were not sent again because the receiver kept them (resume). */
  resumedFrom: number;
  /** When the next attempt of a send in state "retrying" starts. */
  nextAttemptAt: string | null;
  /** Per-file outcomes (in finished transfers; at most MAX_FILES_IN_VIEW). */
  files?: FileOutcome[];
}

export interface Connection {
  socket: Duplex;
  peer: { id: string; name: string };
}

/** Dials a peer by what the user typed; the composition root wires discovery and TLS into it. */
export interface Connector {
  resolve(query: string): { id: string | null; name: string };
  connect(query: string, options: { signal: AbortSignal }): Promise<Connection>;
}

export interface IncomingPolicy {
  /**
   * What to do with this peer's offers: land at once ("auto") or wait for a user ("ask"). Throws
   * a P2pdError (PEER_NOT_TRUSTED, PEER_REFUSED) to refuse the peer before any offer is read.
   */
  decide(peer: { id: string; helloName: string }): 'auto' | 'ask';
  /** The name to show for a peer: the trusted name, the announced one, or its HELLO name. */
  displayName(peer: { id: string; helloName: string }): string;
}

/** How much room the inbox has, for refusing offers that would not fit. */
export interface SpaceCheck {
  freeBytes(): Promise<number>;
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

export interface HistoryStore {
  add(view: TransferView): void;
  list(): TransferView[];
}

export interface ManagerOptions {
  localName: string;
  /** Keep a partial file when the inbox's disk fills up (resume later) instead of deleting it. */
  keepPartialOnDiskFull: boolean;
  /** Backoff of automatic retries, and when to give up. */
  retry: { minDelayMs: number; maxDelayMs: number; giveUpMs: number };
  /** Seconds an offer waits for a user before it is refused. */
  askTimeoutMs: number;
  /** Bytes that must stay free after an offer. */
  minFreeSpace: number;
  software: string;
  maxConcurrentIncoming: number;
  maxConcurrentOutgoing: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  limits: ReceiveLimits;
}

export interface ManagerEvents {
  update: [TransferView];
  end: [TransferView];
  /** A file arrived verified and is in the inbox under `savedAs` (relative to the inbox). */
  received: [{ transferId: string; savedAs: string; peer: { id: string; name: string } }];
}

const MAX_FILES_IN_VIEW = 1000;
/** Offers from unknown peers that may wait for a person's answer at once. */
const MAX_PENDING_OFFERS = 32;
const UPDATE_INTERVAL_MS = 200;

interface Active {
  view: TransferView;
  controller: AbortController;
  done: Promise<TransferView>;
  dataStartedAt: number | null;
  lastEmit: number;
  /** Ends a retry wait early. */
  wake: (() => void) | undefined;
  /** bytesDone when data started flowing in the current attempt. */
  rateBase: number;
}

/** Failures that may heal by themselves: the send is tried again with backoff. */
const RETRYABLE = new Set<string>(['CONNECTION_LOST', 'TIMEOUT', 'PEER_UNREACHABLE', 'PEER_BUSY', 'TLS_FAILED', 'SOURCE_CHANGED', 'DAEMON_NOT_RUNNING']);

export interface SendRequest {
  /** What the user typed: a name, name#short-id, an id or host:port. */
  peer: string;
  source: FileSource;
  /** Reads the paths again before a retry (a file may have changed); default: reuse `source`. */
  rescan?: (signal: AbortSignal) => Promise<FileSource>;
  /**
   * Which failures that may heal are retried: "connected" (default) once the receiver has been
   * reached at least once, so a send to a peer that is simply offline fails at once; "always"
   * also waits for a peer that is away (`send --queue`, sends restored after a restart); "never"
   * for the outbox, which keeps its own schedule.
   */
  retry?: 'connected' | 'always' | 'never';
  /** Reuse this id (a send re-queued after a restart). */
  id?: string;
}

/** The source without the files a previous attempt delivered (directories stay: they are cheap). */
function withoutDelivered(source: FileSource, delivered: Map<string, FileOutcome>): FileSource {
  if (delivered.size === 0) return source;
  const keep = source.entries.flatMap((e, i) => (e.kind === 'file' && delivered.has(e.path) ? [] : [i]));
  return {
    entries: keep.map((i) => source.entries[i]!),
    read: (index, options) => source.read(keep[index]!, options),
  };
}

function setTotals(view: TransferView, source: FileSource): void {
  view.filesTotal = source.entries.filter((e) => e.kind === 'file').length;
  view.bytesTotal = source.entries.reduce((n, e) => n + (e.kind === 'file' ? e.size : 0), 0);
}

export class TransferManager extends EventEmitter<ManagerEvents> {
  readonly #log: Logger;
  readonly #connector: Connector;
  readonly #inbox: InboxStore;
  readonly #history: HistoryStore;
  readonly #policy: IncomingPolicy;
  readonly #space: SpaceCheck | undefined;
  readonly #pairing: ((request: { peerId: string; helloName: string; commit: string; io: PairingIo }) => Promise<void>) | undefined;
  readonly #pending = new Map<string, { view: IncomingOfferView; answer: (accept: boolean) => void }>();
  readonly #opts: ManagerOptions;
  #stopping = false;
  readonly #active = new Map<string, Active>();
  readonly #outgoingSlots: Semaphore;
  #incoming = 0;
  readonly #root = new AbortController();

  constructor(
    deps: {
      logger: Logger;
      connector: Connector;
      inbox: InboxStore;
      history: HistoryStore;
      policy: IncomingPolicy;
      space?: SpaceCheck;
      /** Runs the responder side of a pairing that arrives on an incoming connection. */
      pairing?: (request: { peerId: string; helloName: string; commit: string; io: PairingIo }) => Promise<void>;
    },
    options: ManagerOptions,
  ) {
    super();
    this.#log = deps.logger;
    this.#connector = deps.connector;
    this.#inbox = deps.inbox;
    this.#history = deps.history;
    this.#policy = deps.policy;
    this.#space = deps.space;
    this.#pairing = deps.pairing;
    this.#opts = { ...options };
    this.#outgoingSlots = new Semaphore(options.maxConcurrentOutgoing);
  }

  /** Starts sending; resolves at once with the transfer's id and a promise of its end. */
  send(request: SendRequest): { id: string; done: Promise<TransferView> } {
    if (this.#stopping) throw new P2pdError('DAEMON_NOT_RUNNING', 'the daemon is shutting down; send again once it is back');
    const peer = this.#connector.resolve(request.peer);
    const id = request.id !== undefined && !this.#active.has(request.id) ? request.id : newTransferId();
    const view = newView(id, 'out', peer);
    setTotals(view, request.source);
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, this.#root.signal]);
    const active: Active = { view, controller, done: Promise.resolve(view), dataStartedAt: null, lastEmit: 0, wake: undefined, rateBase: 0 };
    this.#active.set(id, active);
    const log = this.#log.child({ transfer: id, direction: 'out' });
    const retryMode = request.retry ?? 'connected';
    /** host:port sends have no mDNS record to find the peer by id: they keep dialing the address. */
    const direct = peer.id === null;
    let reached = false;
    const firstTry = Date.now();

    active.done = (async () => {
      let source = request.source;
      /** Files the receiver already confirmed: a retry does not send them again. */
      const delivered = new Map<string, FileOutcome>();
      for (let attempt = 1; ; attempt++) {
        view.attempts = attempt;
        try {
          if (attempt > 1 && request.rescan !== undefined) {
            // A retry reads the paths again: a file that changed meanwhile is sent afresh.
            source = await request.rescan(signal);
          }
          const remaining = withoutDelivered(source, delivered);
          setTotals(view, source);
          // Once reached, the peer is addressed by its id: a name may have dropped out of the
          // mDNS table while the link was down.
          const query = reached && view.peer.id !== null && !direct ? view.peer.id : request.peer;
          await this.#attempt(active, query, remaining, signal, log, delivered, () => (reached = true));
          this.#finish(active, 'done', null);
          log.info({ bytes: view.bytesDone, bytesPerSecond: view.bytesPerSecond, attempts: attempt }, 'sent and verified');
          return view;
        } catch (err) {
          const e = toP2pdError(err, 'CONNECTION_LOST');
          const giveUpAt = firstTry + this.#opts.retry.giveUpMs;
          const retry = retryMode === 'always' || (retryMode === 'connected' && reached);
          const healable = RETRYABLE.has(e.code) || (reached && e.code === 'PEER_NOT_FOUND');
          if (!retry || signal.aborted || !healable || Date.now() >= giveUpAt) {
            const final =
              retry && healable && !signal.aborted
                ? new P2pdError(e.code, `${e.message} (gave up after ${attempt} attempts in ${Math.round((Date.now() - firstTry) / 60_000)} min)`)
                : e;
            this.#finish(active, e.code === 'TRANSFER_CANCELLED' ? 'cancelled' : 'failed', final);
            log.warn({ code: e.code, err: e.message, attempts: attempt }, 'send failed');
            return view;
          }
          const delay = Math.min(this.#opts.retry.maxDelayMs, this.#opts.retry.minDelayMs * 2 ** (attempt - 1)) * (0.75 + Math.random() * 0.5);
          view.error = { code: e.code, message: e.message };
          view.nextAttemptAt = new Date(Date.now() + delay).toISOString();
          this.#setState(active, 'retrying');
          log.info({ code: e.code, err: e.message, attempt, delayMs: Math.round(delay) }, 'send interrupted; will retry');
          await this.#sleep(active, Math.min(delay, giveUpAt - Date.now()), signal).catch(() => undefined);
          view.nextAttemptAt = null;
        }
      }
    })();
    this.#emitUpdate(active, true);
    return { id, done: active.done };
  }

  /** Whether the manager is draining for a shutdown (interrupted sends are not failures then). */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** A peer came online: sends to it that wait to retry go now. */
  peerOnline(peerId: string): void {
    for (const a of this.#active.values()) {
      if (a.view.direction === 'out' && a.view.state === 'retrying' && (a.view.peer.id === peerId || a.view.peer.id === null)) a.wake?.();
    }
  }

  async #attempt(
    active: Active,
    query: string,
    source: FileSource,
    signal: AbortSignal,
    log: Logger,
    delivered: Map<string, FileOutcome>,
    onConnected: () => void,
  ): Promise<void> {
    const view = active.view;
    const release = await this.#outgoingSlots.acquire(signal);
    try {
      this.#setState(active, 'connecting');
      const conn = await this.#connector.connect(query, { signal });
      // The session reads errors through its iterator; once it has ended, a late reset from the
      // peer must not become an unhandled 'error' event that takes the daemon down.
      conn.socket.on('error', (err) => log.debug({ err: err.message }, 'socket error'));
      view.peer = { id: conn.peer.id, name: conn.peer.name };
      view.error = null;
      onConnected();
      log.info({ peer: conn.peer.id, files: view.filesTotal, bytes: view.bytesTotal, attempt: view.attempts }, 'sending');
      active.dataStartedAt = null;
      const result = await runSender(
        { socket: conn.socket, source },
        {
          transferId: view.id,
          localName: this.#opts.localName,
          software: this.#opts.software,
          signal,
          handshakeTimeoutMs: this.#opts.handshakeTimeoutMs,
          idleTimeoutMs: this.#opts.idleTimeoutMs,
          onProgress: (p) => this.#progress(active, p),
          onResume: (bytes) => {
            view.resumedFrom = bytes;
          },
          onFileResult: (o) => {
            if (o.ok) delivered.set(o.path, o);
          },
          baseProgress: { files: delivered.size, bytes: [...delivered.values()].reduce((n, f) => n + (f.bytes ?? 0), 0) },
        },
      );
      const all = [...delivered.values(), ...result.files.filter((f) => !delivered.has(f.path) || !f.ok)];
      view.files = all.slice(0, MAX_FILES_IN_VIEW);
      if (!result.ok) {
        const failed = result.files.filter((f) => !f.ok);
        const first = failed[0]?.error;
        throw new P2pdError('TRANSFER_FAILED', `${failed.length} of ${result.files.length} files did not arrive verified${first ? ` (first: ${first.code})` : ''}`, {
          details: { firstCode: first?.code },
        });
      }
    } finally {
      release();
    }
  }

  /** Waits `ms`, or less if the peer comes back (peerOnline) — never past an abort. */
  #sleep(active: Active, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        active.wake = undefined;
      };
      const timer = setTimeout(() => {
        done();
        resolve();
      }, Math.max(0, ms));
      const onAbort = (): void => {
        done();
        reject(signal.reason);
      };
      active.wake = () => {
        done();
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Takes over an authenticated incoming connection. Never throws; the outcome goes to history. */
  async receive(socket: Duplex, peer: { id: string; address: string }): Promise<void> {
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, this.#root.signal]);
    const log = this.#log.child({ peer: peer.id, address: peer.address, direction: 'in' });
    let active: Active | undefined;
    let counted = false;
    let decision: 'auto' | 'ask' = 'auto';
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    try {
      await runReceiver(
        { socket, store: this.#inbox },
        {
          peerId: peer.id,
          localName: this.#opts.localName,
          software: this.#opts.software,
          signal,
          handshakeTimeoutMs: this.#opts.handshakeTimeoutMs,
          idleTimeoutMs: this.#opts.idleTimeoutMs,
          limits: this.#opts.limits,
          ...(this.#pairing === undefined
            ? {}
            : { pairing: (r: { peerName: string; commit: string; io: PairingIo }) => this.#pairing!({ peerId: peer.id, helloName: r.peerName, commit: r.commit, io: r.io }) }),
          authorize: (hello) => {
            decision = this.#policy.decide({ id: peer.id, helloName: hello.name });
            if (this.#incoming >= this.#opts.maxConcurrentIncoming) {
              throw new P2pdError('PEER_BUSY', `${this.#opts.localName} is receiving ${this.#incoming} transfers already; try again later`);
            }
            this.#incoming++;
            counted = true;
          },
          onOffer: async (offer) => {
            // A sender that reconnects (a cut link it noticed first) offers the same transfer again
            // while this side still holds the old connection: the old one gives way, so that the
            // new one can resume its files.
            const old = this.#active.get(offer.transferId);
            if (old !== undefined && old.view.direction === 'in' && old.view.peer.id === peer.id) {
              old.controller.abort(new P2pdError('CONNECTION_LOST', 'the sender reconnected'));
              await Promise.race([old.done, delay(5000)]);
            }
            const id = this.#active.has(offer.transferId) ? newTransferId() : offer.transferId;
            const view = newView(id, 'in', { id: peer.id, name: this.#policy.displayName({ id: peer.id, helloName: offer.peerName }) });
            view.filesTotal = offer.filesTotal;
            view.bytesTotal = offer.totalBytes;
            active = { view, controller, done: settled.then(() => view), dataStartedAt: null, lastEmit: 0, wake: undefined, rateBase: 0 };
            this.#active.set(id, active);
            log.info({ transfer: id, files: offer.filesTotal, bytes: offer.totalBytes, decision }, 'offer');
            this.#emitUpdate(active, true);
            await this.#checkSpace(offer.totalBytes);
            if (decision === 'ask') {
              // An offer waiting for a person holds no receiving slot: strangers' offers must not
              // keep trusted peers out. Their number is bounded instead.
              if (this.#pending.size >= MAX_PENDING_OFFERS) throw new P2pdError('PEER_BUSY', `${this.#opts.localName} has too many offers waiting for an answer`);
              if (counted) {
                this.#incoming--;
                counted = false;
              }
              await this.#ask(active, offer, peer.id, signal);
              if (this.#incoming >= this.#opts.maxConcurrentIncoming) {
                throw new P2pdError('PEER_BUSY', `${this.#opts.localName} is receiving ${this.#incoming} transfers already; try again later`);
              }
              this.#incoming++;
              counted = true;
            }
          },
          onProgress: (p) => {
            if (active !== undefined) this.#progress(active, p);
          },
          onResume: (bytes) => {
            if (active !== undefined) active.view.resumedFrom = bytes;
          },
          nameOf: (helloName) => this.#policy.displayName({ id: peer.id, helloName }),
          keepPartialOnDiskFull: this.#opts.keepPartialOnDiskFull,
          onFile: (o) => {
            if (o.ok && o.savedAs !== undefined && active !== undefined) {
              this.emit('received', { transferId: active.view.id, savedAs: o.savedAs, peer: { id: peer.id, name: active.view.peer.name } });
            }
          },
        },
      ).then((result) => {
        if (active === undefined) return;
        active.view.files = result.files.slice(0, MAX_FILES_IN_VIEW);
        const failed = result.files.filter((f) => !f.ok);
        if (failed.length > 0) {
          this.#finish(active, 'failed', new P2pdError('TRANSFER_FAILED', `${failed.length} of ${result.files.length} files failed verification`));
        } else {
          this.#finish(active, 'done', null);
        }
        log.info({ transfer: active.view.id, files: result.files.length, bytes: result.bytes }, 'received');
      });
    } catch (err) {
      const e = toP2pdError(err, 'CONNECTION_LOST');
      if (active !== undefined) {
        this.#finish(active, e.code === 'TRANSFER_CANCELLED' ? 'cancelled' : 'failed', e);
      } else if (e.code === 'PEER_NOT_TRUSTED' || e.code === 'PEER_REFUSED' || e.code === 'OFFER_TOO_LARGE' || e.code === 'OFFER_INVALID' || e.code === 'NAME_INVALID') {
        // Refused before a transfer existed: still worth a line in the history ("why did nothing
        // arrive?"), but one per peer and minute, so that refused retries cannot flood it.
        const last = this.#history.list().find((v) => v.direction === 'in' && v.peer.id === peer.id);
        const recent = last !== undefined && last.error?.code === e.code && Date.now() - Date.parse(last.startedAt) < 60_000;
        if (recent) {
          log.debug({ code: e.code }, 'refused again');
          return;
        }
        const view = newView(newTransferId(), 'in', { id: peer.id, name: this.#policy.displayName({ id: peer.id, helloName: '' }) });
        view.state = 'failed';
        view.endedAt = new Date().toISOString();
        view.error = { code: e.code, message: e.message };
        this.#history.add(view);
      }
      log.warn({ code: e.code, err: e.message }, 'incoming transfer failed');
    } finally {
      if (counted) this.#incoming--;
      settle();
    }
  }

  /** Offers waiting for a user's answer, oldest first. */
  incoming(): IncomingOfferView[] {
    return [...this.#pending.values()].map((p) => ({ ...p.view, peer: { ...p.view.peer }, names: [...p.view.names] }));
  }

  /** Accepts or rejects a waiting offer. */
  answer(id: string, accept: boolean): IncomingOfferView {
    const pending = this.#pending.get(id);
    if (pending === undefined) {
      throw new P2pdError('OFFER_NOT_FOUND', `no offer waiting for an answer has the id ${id}; \`p2pd incoming\` lists them`, { details: { id } });
    }
    pending.answer(accept);
    return pending.view;
  }

  async #checkSpace(bytes: number): Promise<void> {
    if (this.#space === undefined) return;
    const free = await this.#space.freeBytes();
    const needed = bytes + this.#opts.minFreeSpace;
    if (needed > free) {
      throw new P2pdError(
        'INSUFFICIENT_SPACE',
        `${this.#opts.localName}'s inbox is full: ${formatBytes(bytes)} needed, ${formatBytes(Math.max(0, free - this.#opts.minFreeSpace))} free`,
        { details: { needed: bytes, free, reserve: this.#opts.minFreeSpace } },
      );
    }
  }

  /** Holds an offer until a user answers, the ask timeout passes or the transfer is cancelled. */
  #ask(active: Active, offer: IncomingOffer, peerId: string, signal: AbortSignal): Promise<void> {
    const now = Date.now();
    const view: IncomingOfferView = {
      id: active.view.id,
      peer: { id: peerId, name: active.view.peer.name, trusted: false },
      files: offer.filesTotal,
      bytes: offer.totalBytes,
      names: offer.entries.slice(0, 20).map((e) => e.path),
      receivedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.#opts.askTimeoutMs).toISOString(),
    };
    this.#log.info({ transfer: view.id, peer: peerId }, 'offer waits for `p2pd accept`');
    this.#setState(active, 'waiting');
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#pending.delete(view.id);
      };
      const timer = setTimeout(() => {
        done();
        reject(new P2pdError('PEER_REFUSED', `${this.#opts.localName} did not answer the offer within ${Math.round(this.#opts.askTimeoutMs / 1000)} s`));
      }, this.#opts.askTimeoutMs);
      const onAbort = (): void => {
        done();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(view.id, {
        view,
        answer: (accept) => {
          done();
          if (accept) resolve();
          else reject(new P2pdError('PEER_REFUSED', `${this.#opts.localName} rejected the offer`));
        },
      });
    });
  }

  cancel(id: string): TransferView {
    const active = this.#active.get(id);
    if (active === undefined) {
      if (this.#history.list().some((v) => v.id === id)) {
        throw new P2pdError('TRANSFER_NOT_FOUND', `transfer ${id} has already ended`, { details: { id } });
      }
      throw new P2pdError('TRANSFER_NOT_FOUND', `no transfer has the id ${id}; \`p2pd status\` lists them`, { details: { id } });
    }
    active.controller.abort(new P2pdError('TRANSFER_CANCELLED', 'cancelled by the user'));
    return { ...active.view };
  }

  get(id: string): TransferView | undefined {
    const a = this.#active.get(id);
    if (a !== undefined) return { ...a.view };
    return this.#history.list().find((v) => v.id === id);
  }

  /** Running transfers first, then the most recent finished ones. */
  list(): TransferView[] {
    const running = [...this.#active.values()].map((a) => withoutFiles(a.view));
    const recent = this.#history.list().map(withoutFiles);
    return [...running, ...recent];
  }

  /**
   * Graceful stop: no new sends; running transfers get `graceMs` to finish, then the rest are
   * cancelled (the peer is told) and given a moment to settle.
   */
  async stop(graceMs = 0): Promise<void> {
    this.#stopping = true;
    const settled = (): Promise<unknown> => Promise.allSettled([...this.#active.values()].map((a) => a.done));
    if (this.#active.size > 0 && graceMs > 0) {
      this.#log.info({ running: this.#active.size, graceMs }, 'waiting for running transfers to finish');
      await Promise.race([settled(), delay(graceMs)]);
    }
    this.#root.abort(new P2pdError('TRANSFER_CANCELLED', 'the daemon is shutting down'));
    await Promise.race([settled(), delay(3000)]);
  }

  /** Limits and timeouts that may change while running (SIGHUP). */
  configure(
    options: Pick<
      ManagerOptions,
      'limits' | 'handshakeTimeoutMs' | 'idleTimeoutMs' | 'maxConcurrentIncoming' | 'askTimeoutMs' | 'minFreeSpace' | 'retry' | 'keepPartialOnDiskFull'
    >,
  ): void {
    Object.assign(this.#opts, options);
  }

  #progress(active: Active, p: TransferProgress): void {
    const v = active.view;
    v.filesTotal = p.filesTotal;
    v.filesDone = p.filesDone;
    v.filesFailed = p.filesFailed;
    v.bytesTotal = p.bytesTotal;
    v.bytesDone = p.bytesDone;
    if (active.dataStartedAt === null && p.bytesDone > 0) {
      active.dataStartedAt = Date.now();
      // Bytes resumed or delivered by earlier attempts did not cross the wire now.
      active.rateBase = p.bytesDone;
    }
    if (active.dataStartedAt !== null) {
      const secs = (Date.now() - active.dataStartedAt) / 1000;
      v.bytesPerSecond = secs > 0.05 ? Math.round((p.bytesDone - active.rateBase) / secs) : 0;
    }
    const state: TransferState = p.phase === 'done' ? v.state : p.phase;
    const changed = state !== v.state;
    v.state = state;
    this.#emitUpdate(active, changed);
  }

  #setState(active: Active, state: TransferState): void {
    active.view.state = state;
    this.#emitUpdate(active, true);
  }

  #finish(active: Active, state: TransferState, error: P2pdError | null): void {
    const v = active.view;
    v.state = state;
    v.endedAt = new Date().toISOString();
    v.error = error === null ? null : { code: error.code, message: error.message };
    this.#active.delete(v.id);
    try {
      this.#history.add({ ...v });
    } catch (err) {
      this.#log.error({ err }, 'could not record the transfer in the history');
    }
    this.emit('end', { ...v });
  }

  #emitUpdate(active: Active, force: boolean): void {
    const now = Date.now();
    if (!force && now - active.lastEmit < UPDATE_INTERVAL_MS) return;
    active.lastEmit = now;
    this.emit('update', withoutFiles(active.view));
  }
}

function newView(id: string, direction: 'out' | 'in', peer: { id: string | null; name: string }): TransferView {
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

function withoutFiles(v: TransferView): TransferView {
  const { files: _files, ...rest } = v;
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

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
