/** The I/O of the p2pd handshake (protocol/handshake.ts), one function for sender, receiver and pairing. */
import { checkHello, checkPreface, helloMessage, type LocalHello, type PeerRole } from '../protocol/handshake.js';
import type { DecodedEvent, HelloMessage } from '../protocol/messages.js';
import type { FrameWriter } from './frame-io.js';

/**
 * Sends the preface and our HELLO, then reads the peer's preface and HELLO. `next` yields the
 * peer's messages without heartbeats and throws an ERROR frame from the peer. Timing out is the
 * caller's: each side allows a different part of the exchange.
 */
export async function exchangeHello(io: { writer: FrameWriter; next: () => Promise<DecodedEvent> }, local: LocalHello, peer: PeerRole): Promise<HelloMessage> {
  io.writer.preface();
  io.writer.send(helloMessage(local));
  checkPreface(await io.next(), peer);
  return checkHello(await io.next());
}
