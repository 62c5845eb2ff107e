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

/**
 * Pairings waiting at once, per direction: requests from others can never use up the room of
 * pairings the user starts.
 */
const MAX_PENDING_OUT = 8;
const MAX_PENDING_IN = 8;
/** Incoming requests one address may have waiting at once, and may make per minute. */
const MAX_PENDING_IN_PER_ADDRESS = 2;
const REQUESTS_PER_ADDRESS_PER_MINUTE = 6;
/** Addresses whose recent requests are remembered (the oldest is forgotten first). */
const MAX_ADDRESSES_TRACKED = 1024;

interface Pending {
  view: PairingRecord;
  decide: (ok: boolean) => void;
  /** Where an incoming request came from. */
  address?: string;
  /** Ends the pairing at once, whatever step it is in. */
  abort: (reason: P2pdError) => void;
}

export class PairingManager extends EventEmitter<PairingEvents> {
  readonly #log: Logger;
  readonly #connector: Connector;
  readonly #trust: TrustPort;
  readonly #policy: PairingPolicy;
  readonly #opts: { localId: string; localName: string; software: string; timeoutMs: number; handshakeTimeoutMs: number; idleTimeoutMs: number };
  readonly #pending = new Map<string, Pending>();
  /** Recent incoming requests per address (times), for the rate limit. */
  readonly #requests = new Map<string, number[]>();

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
    const ended = new AbortController();
    pending.abort = (reason) => ended.abort(reason);
    try {
      const result = await runPairingInitiator(
        { socket: conn.socket },
        {
          localId: this.#opts.localId,
          peerId: conn.peer.id,
          localName: this.#opts.localName,
          software: this.#opts.software,
          signal: AbortSignal.any([signal, ended.signal]),
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
      const e = ended.signal.aborted ? toP2pdError(ended.signal.reason) : this.#timeoutAware(err, signal, caller);
      this.#end(pending, e);
      throw e;
    }
  }

  /**
   * The responder side, for a connection whose first message was PAIR_COMMIT. Each step has a
   * deadline: the reveal must follow within the handshake timeout, the people's confirmations
   * within the pairing timeout; then the pairing ends 'expired' and the connection is closed.
   */
  async respond(request: { peerId: string; address?: string; helloName: string; commit: string; io: PairingIo }): Promise<void> {
    this.#policy.mayPair({ id: request.peerId, helloName: request.helloName });
    if ([...this.#pending.values()].some((p) => p.view.direction === 'in' && p.view.peer.id === request.peerId)) {
      throw new P2pdError('PEER_BUSY', 'a pairing with this peer is already waiting for confirmation');
    }
    if (request.address !== undefined) this.#limitRequests(request.address);
    const name = this.#policy.displayName({ id: request.peerId, helloName: request.helloName });
    const pending = this.#add('in', { id: request.peerId, name }, request.address);
    let stop!: (reason: P2pdError) => void;
    const stopped = new Promise<never>((_, reject) => (stop = reject));
    stopped.catch(() => undefined);
    pending.abort = (reason) => {
      pending.fail(reason);
      stop(reason);
    };
    const seconds = (ms: number): number => Math.round(ms / 1000);
    const total = this.#opts.timeoutMs;
    const step = Math.min(this.#opts.handshakeTimeoutMs, total);
    let timer = setTimeout(() => pending.abort(new P2pdError('TIMEOUT', `the pairing request was not completed within ${seconds(step)} s`)), step);
    try {
      const run = runPairingResponder(request.io, {
        localId: this.#opts.localId,
        peerId: request.peerId,
        peerName: name,
        commit: request.commit,
        onCode: (code) => {
          clearTimeout(timer);
          const left = Math.max(0, Date.parse(pending.view.expiresAt) - Date.now());
          timer = setTimeout(() => pending.abort(new P2pdError('TIMEOUT', `the pairing was not confirmed within ${seconds(total)} s`)), left);
          this.#change(pending, { code, state: 'confirm' });
          this.#log.info(
            { peer: request.peerId, peerName: name, pairing: pending.view.id },
            'pairing request: compare the code in `p2pd pair --list`, then `p2pd pair --confirm <id>`',
          );
          return pending.decision;
        },
      });
      run.catch(() => undefined);
      await Promise.race([run, stopped]);
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

  /** Requests from one address: a few at once and a few per minute, so that none can fill the list. */
  #limitRequests(address: string): void {
    const now = Date.now();
    const recent = (this.#requests.get(address) ?? []).filter((t) => now - t < 60_000);
    const waiting = [...this.#pending.values()].filter((p) => p.view.direction === 'in' && p.address === address).length;
    if (waiting >= MAX_PENDING_IN_PER_ADDRESS || recent.length >= REQUESTS_PER_ADDRESS_PER_MINUTE) {
      this.#requests.set(address, recent);
      throw new P2pdError('PEER_BUSY', 'too many pairing requests from this address; try again in a minute');
    }
    recent.push(now);
    this.#requests.delete(address);
    this.#requests.set(address, recent);
    if (this.#requests.size > MAX_ADDRESSES_TRACKED) this.#requests.delete(this.#requests.keys().next().value!);
  }

  list(): PairingRecord[] {
    this.#sweep();
    return [...this.#pending.values()].map((p) => ({ ...p.view, peer: { ...p.view.peer } }));
  }

  /**
   * A person's verdict on a pairing's code; without an id, the only one waiting. A "no" (reject)
   * works on any pairing listed, whatever its step: it ends at once.
   */
  answer(id: string | undefined, ok: boolean): PairingRecord {
    this.#sweep();
    const waiting = [...this.#pending.values()].filter((p) => p.view.state === 'confirm');
    const pending = id === undefined ? (waiting.length === 1 ? waiting[0] : undefined) : this.#pending.get(id);
    if (pending !== undefined && !ok && pending.view.state !== 'confirm') {
      const reason = new P2pdError('PAIRING_REJECTED', 'pairing declined here: nobody was trusted');
      const view = { ...pending.view, peer: { ...pending.view.peer } };
      pending.abort(reason);
      this.#end(pending, reason);
      return view;
    }
    if (pending === undefined || pending.view.state !== 'confirm') {
      const why =
        pending !== undefined
          ? `pairing ${pending.view.id} has no code to confirm yet`
          : id === undefined && waiting.length > 1
            ? 'several pairings wait: name one'
            : `no pairing waits for confirmation${id === undefined ? '' : ` with the id ${id}`}`;
      throw new P2pdError('PAIRING_NOT_FOUND', `${why}; \`p2pd pair --list\` shows them`, { details: { id: id ?? null } });
    }
    this.#change(pending, { state: 'waiting-peer' });
    pending.decide(ok);
    return { ...pending.view };
  }

  #add(direction: 'out' | 'in', peer: { id: string; name: string }, address?: string): Pending & { decision: Promise<boolean>; fail: (e: unknown) => void } {
    this.#sweep();
    const max = direction === 'in' ? MAX_PENDING_IN : MAX_PENDING_OUT;
    const same = [...this.#pending.values()].filter((p) => p.view.direction === direction).length;
    if (same >= max) {
      throw new P2pdError(
        'PEER_BUSY',
        direction === 'in' ? 'too many pairing requests are waiting; try again later' : 'too many pairings are waiting; confirm or reject some first',
      );
    }
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
    const pending = { view, decide, decision, fail, abort: (reason: P2pdError) => fail(reason), ...(address === undefined ? {} : { address }) };
    this.#pending.set(id, pending);
    this.emit('pairing', { ...view, peer: { ...view.peer } });
    return pending;
  }

  /** Ends every pairing past its `expiresAt`: none outlives its deadline, whatever its step. */
  #sweep(): void {
    const now = Date.now();
    for (const p of [...this.#pending.values()]) {
      if (Date.parse(p.view.expiresAt) > now) continue;
      const reason = new P2pdError('TIMEOUT', 'the pairing expired');
      p.abort(reason);
      this.#end(p, reason);
    }
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
