/**
 * Pairing over any Duplex (docs/PROTOCOL.md, "Pairing"): commit, nonce, reveal, a six-digit code
 * both people compare, and a confirmation from each side. Pure session logic: who gets trusted and
 * how people are asked is the caller's.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { P2pdError, toP2pdError } from '../errors.js';
import { pairingCode, pairingCommit } from '../protocol/pairing-code.js';
import type { ControlMessage, DecodedEvent } from '../protocol/messages.js';
import { abortReason, closeWithError, FrameWriter, nextMessage, readEvents } from './frame-io.js';
import { exchangeHello } from './handshake.js';
import { startHeartbeat } from './heartbeat.js';
import type { SessionOptions } from './ports.js';

/** What both sides need once the code is known. */
export interface PairingPrompt {
  code: string;
  /** Resolves true when the local person confirmed the code, false when they declined. */
  decision: Promise<boolean>;
}

/** Message I/O of a connection whose handshake is done, shared with the receiver. */
export interface PairingIo {
  send(message: ControlMessage): void;
  /** The next message that is not a heartbeat; an ERROR frame from the peer is thrown. */
  next: () => Promise<DecodedEvent>;
}

export interface PairingResult {
  /** The peer's HELLO name (untrusted: clean it before use). */
  peerName: string;
  code: string;
}

/**
 * Initiator side, on a fresh connection to the responder. `onCode` is called once the code is
 * known and returns the local person's decision.
 */
export async function runPairingInitiator(
  deps: { socket: Duplex },
  options: SessionOptions & {
    localId: string;
    peerId: string;
    onCode: (code: string, peerName: string) => Promise<boolean>;
  },
): Promise<PairingResult> {
  const { socket } = deps;
  const { signal } = options;
  const writer = new FrameWriter(socket);
  const heartbeat = startHeartbeat({ socket, writer, idleTimeoutMs: options.idleTimeoutMs });
  const events = readEvents(socket, heartbeat.touch)[Symbol.asyncIterator]();
  const io = messageIo(writer, events);
  const onAbort = (): void => closeWithError(socket, writer, abortReason(signal), 500);
  signal.addEventListener('abort', onAbort, { once: true });
  const handshakeTimer = setTimeout(
    () => socket.destroy(new P2pdError('TIMEOUT', 'the peer did not answer the pairing request in time')),
    options.handshakeTimeoutMs,
  );
  try {
    const hello = await exchangeHello({ writer, next: io.next }, { name: options.localName, software: options.software, features: ['pairing'] }, 'peer');
    if (!hello.features.includes('pairing')) throw new P2pdError('PAIRING_FAILED', `${hello.name} runs a p2pd without pairing`);
    const nonceI = randomBytes(32).toString('hex');
    writer.send({ type: 'pair-commit', commit: pairingCommit(nonceI) });
    const nonce = await io.next();
    if (nonce.type !== 'pair-nonce') throw new P2pdError('PROTOCOL_UNEXPECTED', `expected PAIR_NONCE, got ${nonce.type}`);
    clearTimeout(handshakeTimer);
    writer.send({ type: 'pair-reveal', nonce: nonceI });
    const code = pairingCode({ initiatorId: options.localId, responderId: options.peerId, initiatorNonce: nonceI, responderNonce: nonce.nonce });
    await confirmBothWays(io, options.onCode(code, hello.name), hello.name);
    socket.end();
    return { peerName: hello.name, code };
  } catch (err) {
    throw endWithError(socket, writer, signal, err);
  } finally {
    clearTimeout(handshakeTimer);
    heartbeat.stop();
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Responder side, called by the receiver when the first message after HELLO is PAIR_COMMIT.
 * Resolves once both people confirmed; the caller then pins the peer.
 */
export async function runPairingResponder(
  io: PairingIo,
  options: { localId: string; peerId: string; peerName: string; commit: string; onCode: (code: string) => Promise<boolean> },
): Promise<PairingResult> {
  const nonceR = randomBytes(32).toString('hex');
  io.send({ type: 'pair-nonce', nonce: nonceR });
  const reveal = await io.next();
  if (reveal.type !== 'pair-reveal') throw new P2pdError('PROTOCOL_UNEXPECTED', `expected PAIR_REVEAL, got ${reveal.type}`);
  if (pairingCommit(reveal.nonce) !== options.commit) {
    throw new P2pdError('PAIRING_FAILED', 'the pairing nonce does not match its commitment: the exchange was tampered with');
  }
  const code = pairingCode({ initiatorId: options.peerId, responderId: options.localId, initiatorNonce: reveal.nonce, responderNonce: nonceR });
  await confirmBothWays(io, options.onCode(code), options.peerName);
  return { peerName: options.peerName, code };
}

/**
 * Sends our person's verdict and waits for theirs. A "no" from the other side ends the wait at
 * once; a "yes" from them still waits for ours.
 */
async function confirmBothWays(io: PairingIo, decision: Promise<boolean>, peerName: string): Promise<void> {
  const theirs = (async () => {
    const m = await io.next();
    if (m.type !== 'pair-confirm') throw new P2pdError('PROTOCOL_UNEXPECTED', `expected PAIR_CONFIRM, got ${m.type}`);
    return m.ok;
  })();
  theirs.catch(() => undefined);
  const rejectedThere = theirs.then((ok) => (ok ? new Promise<never>(() => undefined) : Promise.reject(rejectedBy(peerName))));
  rejectedThere.catch(() => undefined);
  const mine = await Promise.race([decision, rejectedThere]);
  io.send({ type: 'pair-confirm', ok: mine });
  if (!mine) throw new P2pdError('PAIRING_REJECTED', 'pairing declined here: nobody was trusted');
  if (!(await theirs)) throw rejectedBy(peerName);
}

function rejectedBy(peerName: string): P2pdError {
  return new P2pdError('PAIRING_REJECTED', `${peerName} declined the pairing (the codes did not match, or they said no): nobody was trusted`);
}

function messageIo(writer: FrameWriter, events: AsyncIterator<DecodedEvent>): PairingIo {
  return {
    send: (m) => void writer.send(m),
    next: () => nextMessage(events, writer, 'the peer closed the connection during pairing'),
  };
}

function endWithError(socket: Duplex, writer: FrameWriter, signal: AbortSignal, err: unknown): P2pdError {
  const e = signal.aborted ? toP2pdError(signal.reason ?? err) : toP2pdError(err, 'CONNECTION_LOST');
  if (!socket.destroyed && !signal.aborted && e.details?.from !== 'peer' && e.code !== 'PAIRING_REJECTED') {
    writer.send({ type: 'error', code: e.code, message: e.message });
  }
  socket.end();
  setTimeout(() => socket.destroy(), 1000).unref();
  return e;
}
