/**
 * Pairings in both directions: starting one with a peer, holding incoming ones until a person
 * confirms the code, and pinning the peer once both sides confirmed.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { P2pdError, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Connector } from './drivers.js';
import { runPairingInitiator, runPairingResponder, type PairingIo } from './pairing.js';

/** A pairing waiting to finish. Field names are a stable interface (`p2pd pair --list --json`). */
export interface PairingRecord {
  /** What `p2pd pair --confirm <id>` takes. */
  id: string;
  direction: 'out' | 'in';
  peer: { id: string; name: string };
  /** "123 456" once known. */
  code: string | null;
  /** "connecting", "confirm" (waiting for this side's person), "waiting-peer" (confirmed here). */
  state: 'connecting' | 'confirm' | 'waiting-peer';
  createdAt: string;
  expiresAt: string;
}

/** The old name, kept so that cli/ builds until it imports the record from control/. */

export type PairingOutcome = 'paired' | 'rejected' | 'expired' | 'cancelled' | 'failed';

export interface PairingEvents {
  /** A pairing was added to the pending list, or its state or code changed. */
  pairing: [PairingRecord];
  /** A pairing left the pending list. */
  'pairing-end': [{ id: string; outcome: PairingOutcome }];
}

export interface PairingPolicy {
  /** Throws (PEER_REFUSED) when this peer may not even ask to pair. */
  mayPair(peer: { id: string; helloName: string }): void;
  displayName(peer: { id: string; helloName: string }): string;
}

export interface TrustPort {
  trust(peer: { id: string; name: string }): void;
}

const MAX_PENDING = 8;

interface Pending {
  view: PairingRecord;
  decide: (ok: boolean) => void;
}

export class PairingManager extends EventEmitter<PairingEvents> {
  readonly #log: Logger;
  readonly #connector: Connector;
  readonly #trust: TrustPort;
  readonly #policy: PairingPolicy;
  readonly #opts: { localId: string; localName: string; software: string; timeoutMs: number; handshakeTimeoutMs: number; idleTimeoutMs: number };
  readonly #pending = new Map<string, Pending>();

  constructor(
    deps: { logger: Logger; connector: Connector; trust: TrustPort; policy: PairingPolicy },
    options: { localId: string; localName: string; software: string; timeoutMs: number; handshakeTimeoutMs: number; idleTimeoutMs: number },
  ) {
    super();
    this.#log = deps.logger;
    this.#connector = deps.connector;
    this.#trust = deps.trust;
    this.#policy = deps.policy;
    this.#opts = options;
  }

  /** Pairs with the peer `query` names; `onCode` hears the code as soon as it is known. */
  async initiate(
    query: string,
    options: { signal: AbortSignal; name?: string; onCode: (view: PairingRecord) => void },
  ): Promise<{ peer: { id: string; name: string }; code: string }> {
    // A timer of our own: on Node 20 an AbortSignal.timeout() inside AbortSignal.any() can be
    // garbage-collected and never fire.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new P2pdError('TIMEOUT', 'the pairing took too long')), this.#opts.timeoutMs);
    const signal = AbortSignal.any([options.signal, deadline.signal]);
    try {
      return await this.#initiate(query, { ...options, signal }, options.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async #initiate(
    query: string,
    options: { signal: AbortSignal; name?: string; onCode: (view: PairingRecord) => void },
    caller: AbortSignal,
  ): Promise<{ peer: { id: string; name: string }; code: string }> {
    const signal = options.signal;
    const conn = await this.#connector.connect(query, { signal });
    conn.socket.on('error', () => undefined);
    const name = options.name ?? conn.peer.name;
    const pending = this.#add('out', { id: conn.peer.id, name });
    try {
      const result = await runPairingInitiator(
        { socket: conn.socket },
        {
          localId: this.#opts.localId,
          peerId: conn.peer.id,
          localName: this.#opts.localName,
          software: this.#opts.software,
          signal,
          handshakeTimeoutMs: this.#opts.handshakeTimeoutMs,
          idleTimeoutMs: this.#opts.idleTimeoutMs,
          onCode: (code) => {
            this.#change(pending, { code, state: 'confirm' });
            options.onCode({ ...pending.view });
            return pending.decision;
          },
        },
      );
      this.#trust.trust({ id: conn.peer.id, name });
      this.#log.info({ peer: conn.peer.id, peerName: name }, 'paired: peer trusted');
      this.#end(pending, null);
      return { peer: { id: conn.peer.id, name }, code: result.code };
    } catch (err) {
      const e = this.#timeoutAware(err, signal, caller);
      this.#end(pending, e);
      throw e;
    }
  }

  /** The responder side, for a connection whose first message was PAIR_COMMIT. */
  async respond(request: { peerId: string; helloName: string; commit: string; io: PairingIo }): Promise<void> {
    this.#policy.mayPair({ id: request.peerId, helloName: request.helloName });
    if ([...this.#pending.values()].some((p) => p.view.direction === 'in' && p.view.peer.id === request.peerId)) {
      throw new P2pdError('PEER_BUSY', 'a pairing with this peer is already waiting for confirmation');
    }
    const name = this.#policy.displayName({ id: request.peerId, helloName: request.helloName });
    const pending = this.#add('in', { id: request.peerId, name });
    const timer = setTimeout(() => pending.fail(new P2pdError('TIMEOUT', `the pairing was not confirmed within ${Math.round(this.#opts.timeoutMs / 1000)} s`)), this.#opts.timeoutMs);
    try {
      await runPairingResponder(request.io, {
        localId: this.#opts.localId,
        peerId: request.peerId,
        peerName: name,
        commit: request.commit,
        onCode: (code) => {
          this.#change(pending, { code, state: 'confirm' });
          this.#log.info({ peer: request.peerId, peerName: name, pairing: pending.view.id }, 'pairing request: compare the code in `p2pd pair --list`, then `p2pd pair --confirm <id>`');
          return pending.decision;
        },
      });
      this.#trust.trust({ id: request.peerId, name });
      this.#log.info({ peer: request.peerId, peerName: name }, 'paired: peer trusted');
      this.#end(pending, null);
    } catch (err) {
      this.#end(pending, err);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  list(): PairingRecord[] {
    return [...this.#pending.values()].map((p) => ({ ...p.view, peer: { ...p.view.peer } }));
  }

  /** A person's verdict on a pairing's code; without an id, the only one waiting. */
  answer(id: string | undefined, ok: boolean): PairingRecord {
    const waiting = [...this.#pending.values()].filter((p) => p.view.state === 'confirm');
    const pending = id === undefined ? (waiting.length === 1 ? waiting[0] : undefined) : this.#pending.get(id);
    if (pending === undefined || pending.view.state !== 'confirm') {
      const why = id === undefined && waiting.length > 1 ? 'several pairings wait: name one' : `no pairing waits for confirmation${id === undefined ? '' : ` with the id ${id}`}`;
      throw new P2pdError('PAIRING_NOT_FOUND', `${why}; \`p2pd pair --list\` shows them`, { details: { id: id ?? null } });
    }
    this.#change(pending, { state: 'waiting-peer' });
    pending.decide(ok);
    return { ...pending.view };
  }

  #add(direction: 'out' | 'in', peer: { id: string; name: string }): Pending & { decision: Promise<boolean>; fail: (e: unknown) => void } {
    if (this.#pending.size >= MAX_PENDING) throw new P2pdError('PEER_BUSY', 'too many pairings are waiting; confirm or reject some first');
    const now = Date.now();
    const id = randomBytes(4).toString('hex');
    let decide!: (ok: boolean) => void;
    let fail!: (e: unknown) => void;
    const decision = new Promise<boolean>((resolve, reject) => {
      decide = resolve;
      fail = reject;
    });
    decision.catch(() => undefined);
    const view: PairingRecord = {
      id,
      direction,
      peer,
      code: null,
      state: 'connecting',
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.#opts.timeoutMs).toISOString(),
    };
    const pending = { view, decide, decision, fail };
    this.#pending.set(id, pending);
    this.emit('pairing', { ...view, peer: { ...view.peer } });
    return pending;
  }

  #change(pending: Pending, change: Partial<Pick<PairingRecord, 'code' | 'state'>>): void {
    Object.assign(pending.view, change);
    this.emit('pairing', { ...pending.view, peer: { ...pending.view.peer } });
  }

  /** Takes a pairing off the pending list; `error` null when both sides confirmed. */
  #end(pending: Pending, error: unknown): void {
    if (!this.#pending.delete(pending.view.id)) return;
    this.emit('pairing-end', { id: pending.view.id, outcome: error === null ? 'paired' : outcomeOf(toP2pdError(error, 'CONNECTION_LOST')) });
  }

  #timeoutAware(err: unknown, combined: AbortSignal, caller: AbortSignal): P2pdError {
    if (combined.aborted && !caller.aborted) {
      return new P2pdError('TIMEOUT', `the pairing was not confirmed within ${Math.round(this.#opts.timeoutMs / 1000)} s`);
    }
    return toP2pdError(err, 'CONNECTION_LOST');
  }
}

function outcomeOf(e: P2pdError): PairingOutcome {
  if (e.code === 'PAIRING_REJECTED') return 'rejected';
  if (e.code === 'TIMEOUT') return 'expired';
  if (e.code === 'TRANSFER_CANCELLED') return 'cancelled';
  return 'failed';
}
