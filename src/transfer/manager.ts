/**
 * Every transfer of the daemon, both directions: queueing, concurrency limits, cancellation,
 * progress for the control socket, and the history kept in state.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { P2pdError, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { FileSource, InboxStore } from './ports.js';
import type { FileOutcome, TransferProgress } from './progress.js';
import { runReceiver, type ReceiveLimits } from './receiver.js';
import { runSender } from './sender.js';
import { Semaphore } from './semaphore.js';

export type TransferState = 'queued' | 'connecting' | 'waiting' | 'sending' | 'receiving' | 'verifying' | 'done' | 'failed' | 'cancelled';

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
  /** Throws a P2pdError (PEER_NOT_TRUSTED, …) to refuse this peer before any offer is read. */
  authorize(peer: { id: string; helloName: string }): void;
  /** The name to show for a peer: the trusted name, the announced one, or its HELLO name. */
  displayName(peer: { id: string; helloName: string }): string;
}

export interface HistoryStore {
  add(view: TransferView): void;
  list(): TransferView[];
}

export interface ManagerOptions {
  localName: string;
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
}

const MAX_FILES_IN_VIEW = 1000;
const UPDATE_INTERVAL_MS = 200;

interface Active {
  view: TransferView;
  controller: AbortController;
  done: Promise<TransferView>;
  dataStartedAt: number | null;
  lastEmit: number;
}

export class TransferManager extends EventEmitter<ManagerEvents> {
  readonly #log: Logger;
  readonly #connector: Connector;
  readonly #inbox: InboxStore;
  readonly #history: HistoryStore;
  readonly #policy: IncomingPolicy;
  readonly #opts: ManagerOptions;
  readonly #active = new Map<string, Active>();
  readonly #outgoingSlots: Semaphore;
  #incoming = 0;
  readonly #root = new AbortController();

  constructor(
    deps: { logger: Logger; connector: Connector; inbox: InboxStore; history: HistoryStore; policy: IncomingPolicy },
    options: ManagerOptions,
  ) {
    super();
    this.#log = deps.logger;
    this.#connector = deps.connector;
    this.#inbox = deps.inbox;
    this.#history = deps.history;
    this.#policy = deps.policy;
    this.#opts = options;
    this.#outgoingSlots = new Semaphore(options.maxConcurrentOutgoing);
  }

  /** Starts sending; resolves at once with the transfer's id and a promise of its end. */
  send(request: { peer: string; source: FileSource }): { id: string; done: Promise<TransferView> } {
    const peer = this.#connector.resolve(request.peer);
    const id = newTransferId();
    const entries = request.source.entries;
    const view = newView(id, 'out', peer);
    view.filesTotal = entries.filter((e) => e.kind === 'file').length;
    view.bytesTotal = entries.reduce((n, e) => n + (e.kind === 'file' ? e.size : 0), 0);
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, this.#root.signal]);
    const active: Active = { view, controller, done: Promise.resolve(view), dataStartedAt: null, lastEmit: 0 };
    this.#active.set(id, active);
    const log = this.#log.child({ transfer: id, direction: 'out' });

    active.done = (async () => {
      let release: (() => void) | undefined;
      try {
        release = await this.#outgoingSlots.acquire(signal);
        this.#setState(active, 'connecting');
        const conn = await this.#connector.connect(request.peer, { signal });
        // The session reads errors through its iterator; once it has ended, a late reset from the
        // peer must not become an unhandled 'error' event that takes the daemon down.
        conn.socket.on('error', (err) => log.debug({ err: err.message }, 'socket error'));
        view.peer = { id: conn.peer.id, name: conn.peer.name };
        log.info({ peer: conn.peer.id, files: view.filesTotal, bytes: view.bytesTotal }, 'sending');
        const result = await runSender(
          { socket: conn.socket, source: request.source },
          {
            transferId: id,
            localName: this.#opts.localName,
            software: this.#opts.software,
            signal,
            handshakeTimeoutMs: this.#opts.handshakeTimeoutMs,
            idleTimeoutMs: this.#opts.idleTimeoutMs,
            onProgress: (p) => this.#progress(active, p),
          },
        );
        view.files = result.files.slice(0, MAX_FILES_IN_VIEW);
        if (!result.ok) {
          const failed = result.files.filter((f) => !f.ok);
          const first = failed[0]?.error;
          throw new P2pdError('TRANSFER_FAILED', `${failed.length} of ${result.files.length} files did not arrive verified${first ? ` (first: ${first.code})` : ''}`, {
            details: { firstCode: first?.code },
          });
        }
        this.#finish(active, 'done', null);
        log.info({ bytes: view.bytesDone, bytesPerSecond: view.bytesPerSecond }, 'sent and verified');
      } catch (err) {
        const e = toP2pdError(err, 'CONNECTION_LOST');
        this.#finish(active, e.code === 'TRANSFER_CANCELLED' ? 'cancelled' : 'failed', e);
        log.warn({ code: e.code, err: e.message }, 'send failed');
      } finally {
        release?.();
      }
      return view;
    })();
    this.#emitUpdate(active, true);
    return { id, done: active.done };
  }

  /** Takes over an authenticated incoming connection. Never throws; the outcome goes to history. */
  async receive(socket: Duplex, peer: { id: string; address: string }): Promise<void> {
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, this.#root.signal]);
    const log = this.#log.child({ peer: peer.id, address: peer.address, direction: 'in' });
    let active: Active | undefined;
    let counted = false;
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
          authorize: (hello) => {
            this.#policy.authorize({ id: peer.id, helloName: hello.name });
            if (this.#incoming >= this.#opts.maxConcurrentIncoming) {
              throw new P2pdError('PEER_BUSY', `${this.#opts.localName} is receiving ${this.#incoming} transfers already; try again later`);
            }
            this.#incoming++;
            counted = true;
          },
          onOffer: (offer) => {
            const id = this.#active.has(offer.transferId) ? newTransferId() : offer.transferId;
            const view = newView(id, 'in', { id: peer.id, name: this.#policy.displayName({ id: peer.id, helloName: offer.peerName }) });
            view.filesTotal = offer.filesTotal;
            view.bytesTotal = offer.totalBytes;
            active = { view, controller, done: Promise.resolve(view), dataStartedAt: null, lastEmit: 0 };
            this.#active.set(id, active);
            log.info({ transfer: id, files: offer.filesTotal, bytes: offer.totalBytes }, 'receiving');
            this.#emitUpdate(active, true);
          },
          onProgress: (p) => {
            if (active !== undefined) this.#progress(active, p);
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
      } else if (e.code === 'PEER_NOT_TRUSTED' || e.code === 'OFFER_TOO_LARGE' || e.code === 'OFFER_INVALID' || e.code === 'NAME_INVALID') {
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
    }
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

  async stop(graceMs = 5000): Promise<void> {
    this.#root.abort(new P2pdError('TRANSFER_CANCELLED', 'the daemon is shutting down'));
    const all = [...this.#active.values()].map((a) => a.done);
    await Promise.race([Promise.allSettled(all), new Promise((r) => setTimeout(r, graceMs).unref())]);
  }

  #progress(active: Active, p: TransferProgress): void {
    const v = active.view;
    v.filesTotal = p.filesTotal;
    v.filesDone = p.filesDone;
    v.filesFailed = p.filesFailed;
    v.bytesTotal = p.bytesTotal;
    v.bytesDone = p.bytesDone;
    if (active.dataStartedAt === null && p.bytesDone > 0) active.dataStartedAt = Date.now();
    if (active.dataStartedAt !== null) {
      const secs = (Date.now() - active.dataStartedAt) / 1000;
      v.bytesPerSecond = secs > 0.05 ? Math.round(p.bytesDone / secs) : 0;
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
