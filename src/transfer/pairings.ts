/**
 * Pairings in both directions: starting one with a peer, holding incoming ones until a person
 * confirms the code, and pinning the peer once both sides confirmed.
 */
import { randomBytes } from 'node:crypto';
import { P2pdError, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Connector } from './manager.js';
import { runPairingInitiator, runPairingResponder, type PairingIo } from './pairing.js';

/** A pairing as `p2pd pair --list --json` shows it. */
export interface PairingView {
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
  view: PairingView;
  decide: (ok: boolean) => void;
}

export class PairingManager {
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
    this.#log = deps.logger;
    this.#connector = deps.connector;
    this.#trust = deps.trust;
    this.#policy = deps.policy;
    this.#opts = options;
  }

  /** Pairs with the peer `query` names; `onCode` hears the code as soon as it is known. */
  async initiate(
    query: string,
    options: { signal: AbortSignal; name?: string; onCode: (view: PairingView) => void },
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
    options: { signal: AbortSignal; name?: string; onCode: (view: PairingView) => void },
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
            pending.view.code = code;
            pending.view.state = 'confirm';
            options.onCode({ ...pending.view });
            return pending.decision;
          },
        },
      );
      this.#trust.trust({ id: conn.peer.id, name });
      this.#log.info({ peer: conn.peer.id, peerName: name }, 'paired: peer trusted');
      return { peer: { id: conn.peer.id, name }, code: result.code };
    } catch (err) {
      throw this.#timeoutAware(err, signal, caller);
    } finally {
      this.#pending.delete(pending.view.id);
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
          pending.view.code = code;
          pending.view.state = 'confirm';
          this.#log.info({ peer: request.peerId, peerName: name, pairing: pending.view.id }, 'pairing request: compare the code in `p2pd pair --list`, then `p2pd pair --confirm <id>`');
          return pending.decision;
        },
      });
      this.#trust.trust({ id: request.peerId, name });
      this.#log.info({ peer: request.peerId, peerName: name }, 'paired: peer trusted');
    } finally {
      clearTimeout(timer);
      this.#pending.delete(pending.view.id);
    }
  }

  list(): PairingView[] {
    return [...this.#pending.values()].map((p) => ({ ...p.view, peer: { ...p.view.peer } }));
  }

  /** A person's verdict on a pairing's code; without an id, the only one waiting. */
  answer(id: string | undefined, ok: boolean): PairingView {
    const waiting = [...this.#pending.values()].filter((p) => p.view.state === 'confirm');
    const pending = id === undefined ? (waiting.length === 1 ? waiting[0] : undefined) : this.#pending.get(id);
    if (pending === undefined || pending.view.state !== 'confirm') {
      const why = id === undefined && waiting.length > 1 ? 'several pairings wait: name one' : `no pairing waits for confirmation${id === undefined ? '' : ` with the id ${id}`}`;
      throw new P2pdError('PAIRING_NOT_FOUND', `${why}; \`p2pd pair --list\` shows them`, { details: { id: id ?? null } });
    }
    pending.view.state = 'waiting-peer';
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
    const view: PairingView = {
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
    return pending;
  }

  #timeoutAware(err: unknown, combined: AbortSignal, caller: AbortSignal): P2pdError {
    if (combined.aborted && !caller.aborted) {
      return new P2pdError('TIMEOUT', `the pairing was not confirmed within ${Math.round(this.#opts.timeoutMs / 1000)} s`);
    }
    return toP2pdError(err, 'CONNECTION_LOST');
  }
}
