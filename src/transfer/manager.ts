/**
 * Every transfer of the daemon, both directions: the registry of running transfers, their records
 * and history, progress for the control socket, cancellation and stop. The wire is a session
 * driver's (one per protocol, drivers.ts), an incoming offer's admission the gate's
 * (admission.ts), retries the send loop's (send-loop.ts).
 */
import { EventEmitter } from 'node:events';
import { P2pdError, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Admission, AdmissionGate, InboundConnectionView, OfferAnswer, OfferSummary, PendingOffer } from './admission.js';
import type { Connector, InboundConnection, InboundResult, InboundSession, SessionDriver } from './drivers.js';
import type { FileSource } from './ports.js';
import type { TransferProgress } from './progress.js';
import {
  declinedOnly,
  MAX_FILES_IN_RECORD,
  newRecord,
  newTransferId,
  withoutFiles,
  type HistoryStore,
  type TransferRecord,
  type TransferState,
  type Tracked,
} from './records.js';
import { runSendLoop, setTotals, type RetryMode, type RetryOptions, type SendLoopHost } from './send-loop.js';
import { Semaphore } from './semaphore.js';

// Old names, kept so that control/, cli/ and store/state.ts build until they import the records.
export type { TransferState, HistoryStore } from './records.js';
export type { Connector, Connection } from './drivers.js';
export type { IncomingPolicy, SpaceCheck } from './admission.js';
export { newTransferId } from './records.js';

export interface ManagerOptions {
  maxConcurrentOutgoing: number;
  /** Backoff of automatic retries, and when to give up. */
  retry: RetryOptions;
}

export interface ManagerEvents {
  update: [TransferRecord];
  end: [TransferRecord];
  /** A file arrived verified and is in the inbox under `savedAs` (relative to the inbox). */
  received: [{ transferId: string; savedAs: string; peer: { id: string; name: string } }];
}

const UPDATE_INTERVAL_MS = 200;

export interface SendRequest {
  /** What the user typed: a name, name#short-id, an id or host:port. */
  peer: string;
  source: FileSource;
  /** Reads the paths again before a retry (a file may have changed); default: reuse `source`. */
  rescan?: (signal: AbortSignal) => Promise<FileSource>;
  /** Which failures that may heal are retried (send-loop.ts); default "connected". */
  retry?: RetryMode;
  /** Reuse this id (a send re-queued after a restart). */
  id?: string;
  /** Who started it, when not a person: shown in status. */
  origin?: 'outbox';
}

export class TransferManager extends EventEmitter<ManagerEvents> {
  readonly #log: Logger;
  readonly #connector: Pick<Connector, 'resolve'>;
  readonly #history: HistoryStore;
  readonly #gate: AdmissionGate;
  readonly #drivers = new Map<string, SessionDriver>();
  readonly #opts: ManagerOptions;
  #stopping = false;
  readonly #active = new Map<string, Tracked>();
  readonly #root = new AbortController();
  readonly #host: SendLoopHost;

  constructor(
    deps: { logger: Logger; connector: Pick<Connector, 'resolve'>; history: HistoryStore; gate: AdmissionGate; drivers: readonly SessionDriver[] },
    options: ManagerOptions,
  ) {
    super();
    this.#log = deps.logger;
    this.#connector = deps.connector;
    this.#history = deps.history;
    this.#gate = deps.gate;
    for (const d of deps.drivers) this.#drivers.set(d.protocol, d);
    this.#opts = { ...options };
    this.#host = {
      retry: () => this.#opts.retry,
      outgoingSlots: new Semaphore(options.maxConcurrentOutgoing),
      setState: (t, state) => this.#setState(t, state),
      progress: (t, p) => this.#progress(t, p),
      finish: (t, state, error) => this.#finish(t, state, error),
    };
  }

  /** Starts sending; resolves at once with the transfer's id and a promise of its end. */
  send(request: SendRequest): { id: string; done: Promise<TransferRecord> } {
    if (this.#stopping) throw new P2pdError('DAEMON_NOT_RUNNING', 'the daemon is shutting down; send again once it is back');
    const peer = this.#connector.resolve(request.peer);
    const driver = this.#driver(peer.protocol);
    const id = request.id !== undefined && !this.#active.has(request.id) ? request.id : newTransferId();
    const record = newRecord(id, 'out', peer);
    if (request.origin !== undefined) record.origin = request.origin;
    setTotals(record, request.source);
    const controller = new AbortController();
    const tracked: Tracked = { record, controller, done: Promise.resolve(record), dataStartedAt: null, lastEmit: 0, wake: undefined, rateBase: 0 };
    this.#active.set(id, tracked);
    tracked.done = runSendLoop(this.#host, {
      tracked,
      driver,
      query: request.peer,
      peer,
      source: request.source,
      rescan: request.rescan,
      retryMode: request.retry ?? 'connected',
      signal: AbortSignal.any([controller.signal, this.#root.signal]),
      // Log lines name the peer as people know it, beside its 52-character id.
      log: this.#log.child({ transfer: id, direction: 'out', peerName: peer.name }),
    }).then(() => record);
    this.#emitUpdate(tracked, true);
    return { id, done: tracked.done };
  }

  /** Whether the manager is draining for a shutdown (interrupted sends are not failures then). */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** A peer came online: sends to it that wait to retry go now. */
  peerOnline(peerId: string): void {
    for (const t of this.#active.values()) {
      const r = t.record;
      if (r.direction === 'out' && r.state === 'retrying' && (r.peer.id === peerId || r.peer.id === null)) t.wake?.();
    }
  }

  /** Takes over an authenticated incoming connection. Never throws; the outcome goes to history. */
  async receive(connection: InboundConnection): Promise<void> {
    return this.receiveSession({ ...connection.peer, protocol: connection.protocol }, (session) =>
      this.#driver(connection.protocol).receive(connection, session),
    );
  }

  /**
   * An inbound transfer that is not one Duplex (LocalSend: a prepare-upload, then one HTTP request
   * per file): `run` drives it through `session` exactly as a driver's receive() does, with the same
   * gate, record, progress, history and `received` events. `signal` ends it from outside (the
   * sender cancelled). Never throws; the outcome goes to history.
   */
  async receiveSession(
    peer: InboundConnection['peer'] & { protocol?: string },
    run: (session: InboundSession) => Promise<InboundResult>,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const controller = new AbortController();
    const signals = [controller.signal, this.#root.signal];
    if (options.signal !== undefined) signals.push(options.signal);
    const signal = AbortSignal.any(signals);
    const log = this.#log.child({ peer: peer.id, address: peer.address, direction: 'in' });
    let tracked: Tracked | undefined;
    let admission: Admission | undefined;
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    // Until its offer is complete (or it turns out to be a pairing, which has deadlines of its
    // own) a connection is bounded in time whatever it sends: PINGs are no progress.
    const arrival = this.#gate.arrive({ peerId: peer.id, address: peer.address, protocol: peer.protocol ?? 'p2pd' });
    const offerMs = this.#gate.offerTimeoutMs;
    const offerTimer = setTimeout(() => {
      controller.abort(new P2pdError('TIMEOUT', `the sender did not complete its offer within ${Math.round(offerMs / 1000)} s`));
    }, offerMs);
    offerTimer.unref();
    try {
      const result = await run({
        signal,
        limits: this.#gate.limits,
        greet: (sender) => (admission = this.#gate.greet(sender, arrival)),
        phase: (phase) => {
          arrival.phase(phase);
          if (phase === 'pairing') clearTimeout(offerTimer);
        },
        offer: async (offer, options) => {
          if (admission === undefined) throw new P2pdError('INTERNAL', 'an offer before its sender was admitted');
          clearTimeout(offerTimer);
          arrival.leave();
          const t = await this.#openIncoming(offer, admission, { controller, done: settled });
          tracked = t;
          log.info({ transfer: t.record.id, peerName: t.record.peer.name, files: offer.files, bytes: offer.bytes, decision: admission.decision }, 'offer');
          const waitSignal = options?.signal === undefined ? signal : AbortSignal.any([signal, options.signal]);
          return admission.offer({ ...offer, transferId: t.record.id }, { signal: waitSignal, onWaiting: () => this.#setState(t, 'waiting') });
        },
        onProgress: (p) => {
          if (tracked !== undefined) this.#progress(tracked, p);
        },
        onResume: (bytes) => {
          if (tracked !== undefined) tracked.record.resumedFrom = bytes;
        },
        onFile: (o) => {
          if (o.ok && o.savedAs !== undefined && tracked !== undefined) {
            this.emit('received', { transferId: tracked.record.id, savedAs: o.savedAs, peer: { id: peer.id, name: tracked.record.peer.name } });
          }
        },
      });
      if (tracked === undefined) return;
      tracked.record.files = result.files.slice(0, MAX_FILES_IN_RECORD);
      const failed = result.files.filter((f) => !f.ok);
      const declined = declinedOnly(result.files);
      if (declined !== undefined) {
        tracked.record.filesDeclined = declined;
        this.#finish(tracked, 'done', null);
      } else if (failed.length > 0) {
        this.#finish(tracked, 'failed', new P2pdError('TRANSFER_FAILED', `${failed.length} of ${result.files.length} files failed verification`));
      } else {
        this.#finish(tracked, 'done', null);
      }
      // A transfer with failed files is not news for INFO: say which codes failed.
      if (failed.length > 0 && declined === undefined) {
        log.warn(
          { transfer: tracked.record.id, files: result.files.length, failed: failed.length, codes: [...new Set(failed.map((f) => f.error?.code))] },
          'received with failures',
        );
      } else {
        log.info(
          { transfer: tracked.record.id, peerName: tracked.record.peer.name, files: result.files.length, bytes: result.bytes, declined: declined ?? 0 },
          'received',
        );
      }
    } catch (err) {
      const e = toP2pdError(err, 'CONNECTION_LOST');
      if (tracked !== undefined) this.#finish(tracked, e.code === 'TRANSFER_CANCELLED' ? 'cancelled' : 'failed', e);
      else if (this.#gate.noteRefusal({ id: peer.id }, e) === 'repeated') return;
      log.warn({ code: e.code, err: e.message }, 'incoming transfer failed');
    } finally {
      clearTimeout(offerTimer);
      arrival.leave();
      admission?.release();
      settle();
    }
  }

  /**
   * The record of an incoming transfer. A sender that reconnects (a cut link it noticed first)
   * offers the same transfer again while this side still holds the old connection: the old one
   * gives way, so that the new one can resume its files.
   */
  async #openIncoming(offer: OfferSummary, admission: Admission, own: { controller: AbortController; done: Promise<void> }): Promise<Tracked> {
    const peerId = admission.sender.id;
    const old = this.#active.get(offer.transferId);
    if (old !== undefined && old.record.direction === 'in' && old.record.peer.id === peerId) {
      old.controller.abort(new P2pdError('CONNECTION_LOST', 'the sender reconnected'));
      await Promise.race([old.done, delay(5000)]);
    }
    const id = this.#active.has(offer.transferId) ? newTransferId() : offer.transferId;
    const record = newRecord(id, 'in', { id: peerId, name: admission.name });
    record.filesTotal = offer.files;
    record.bytesTotal = offer.bytes;
    const tracked: Tracked = {
      record,
      controller: own.controller,
      done: own.done.then(() => record),
      dataStartedAt: null,
      lastEmit: 0,
      wake: undefined,
      rateBase: 0,
    };
    this.#active.set(id, tracked);
    this.#emitUpdate(tracked, true);
    return tracked;
  }

  /** Inbound connections that are not transfers yet (handshake, offer, pairing), oldest first. */
  inbound(): InboundConnectionView[] {
    return this.#gate.inbound();
  }

  /** Offers waiting for a user's answer, oldest first. */
  incoming(): PendingOffer[] {
    return this.#gate.incoming();
  }

  /** Accepts or rejects a waiting offer; an acceptance may carry choices (AdmissionGate.answer). */
  answer(id: string, answer: OfferAnswer): PendingOffer {
    return this.#gate.answer(id, answer);
  }

  cancel(id: string): TransferRecord {
    const tracked = this.#active.get(id);
    if (tracked === undefined) {
      if (this.#history.list().some((r) => r.id === id)) {
        throw new P2pdError('TRANSFER_NOT_FOUND', `transfer ${id} has already ended`, { details: { id } });
      }
      throw new P2pdError('TRANSFER_NOT_FOUND', `no transfer has the id ${id}; \`p2pd status\` lists them`, { details: { id } });
    }
    tracked.controller.abort(new P2pdError('TRANSFER_CANCELLED', 'cancelled by the user'));
    return { ...tracked.record };
  }

  get(id: string): TransferRecord | undefined {
    const t = this.#active.get(id);
    if (t !== undefined) return { ...t.record };
    return this.#history.list().find((r) => r.id === id);
  }

  /** Running transfers first, then the most recent finished ones. */
  list(): TransferRecord[] {
    const running = [...this.#active.values()].map((t) => withoutFiles(t.record));
    const recent = this.#history.list().map(withoutFiles);
    return [...running, ...recent];
  }

  /**
   * Graceful stop: no new sends; running transfers get `graceMs` to finish, then the rest are
   * cancelled (the peer is told) and given a moment to settle.
   */
  async stop(graceMs = 0): Promise<void> {
    this.#stopping = true;
    const settled = (): Promise<unknown> => Promise.allSettled([...this.#active.values()].map((t) => t.done));
    if (this.#active.size > 0 && graceMs > 0) {
      this.#log.info({ running: this.#active.size, graceMs }, 'waiting for running transfers to finish');
      await Promise.race([settled(), delay(graceMs)]);
    }
    this.#root.abort(new P2pdError('TRANSFER_CANCELLED', 'the daemon is shutting down'));
    await Promise.race([settled(), delay(3000)]);
    await Promise.allSettled([...this.#drivers.values()].map(async (d) => d.stop?.()));
  }

  /** Settings that may change while running (SIGHUP). */
  configure(options: Pick<ManagerOptions, 'retry'>): void {
    this.#opts.retry = options.retry;
  }

  #driver(protocol: string): SessionDriver {
    const driver = this.#drivers.get(protocol);
    if (driver === undefined) throw new P2pdError('INTERNAL', `no session driver speaks ${protocol}`);
    return driver;
  }

  #progress(t: Tracked, p: TransferProgress): void {
    const r = t.record;
    r.filesTotal = p.filesTotal;
    r.filesDone = p.filesDone;
    r.filesFailed = p.filesFailed;
    r.bytesTotal = p.bytesTotal;
    r.bytesDone = p.bytesDone;
    if (p.file === undefined) delete r.current;
    else r.current = { ...p.file };
    if (t.dataStartedAt === null && p.bytesDone > 0) {
      t.dataStartedAt = Date.now();
      // Bytes resumed or delivered by earlier attempts did not cross the wire now.
      t.rateBase = p.bytesDone;
    }
    if (t.dataStartedAt !== null) {
      const secs = (Date.now() - t.dataStartedAt) / 1000;
      r.bytesPerSecond = secs > 0.05 ? Math.round((p.bytesDone - t.rateBase) / secs) : 0;
    }
    const state: TransferState = p.phase === 'done' ? r.state : p.phase;
    const changed = state !== r.state;
    r.state = state;
    this.#emitUpdate(t, changed);
  }

  #setState(t: Tracked, state: TransferState): void {
    t.record.state = state;
    this.#emitUpdate(t, true);
  }

  #finish(t: Tracked, state: TransferState, error: P2pdError | null): void {
    const r = t.record;
    r.state = state;
    r.endedAt = new Date().toISOString();
    r.error = error === null ? null : { code: error.code, message: error.message };
    this.#active.delete(r.id);
    try {
      this.#history.add({ ...r });
    } catch (err) {
      this.#log.error({ err }, 'could not record the transfer in the history');
    }
    this.emit('end', { ...r });
  }

  #emitUpdate(t: Tracked, force: boolean): void {
    const now = Date.now();
    if (!force && now - t.lastEmit < UPDATE_INTERVAL_MS) return;
    t.lastEmit = now;
    this.emit('update', withoutFiles(t.record));
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
