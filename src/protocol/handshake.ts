/**
 * The opening of every p2pd connection, both directions and every purpose (transfer or pairing):
 * each side sends the preface and a HELLO, then reads the other's. Pure: what to send and what
 * the arrivals must be; transfer/handshake.ts does the I/O.
 */
import { P2pdError } from '../errors.js';
import { PROTOCOL_VERSION, type DecodedEvent, type Feature, type HelloMessage } from './messages.js';

export interface LocalHello {
  /** This daemon's display name. */
  name: string;
  /** "p2pd/<version>". */
  software: string;
  features: readonly Feature[];
}

/** Who the other side is, for messages: "the sender speaks protocol version 2". */
export type PeerRole = 'sender' | 'receiver' | 'peer';

export function helloMessage(local: LocalHello): HelloMessage {
  return { type: 'hello', name: local.name, software: local.software, features: [...local.features] };
}

/**
 * The peer's first event must be the preface of this version. (The decoder already refuses
 * another version with PROTOCOL_VERSION; the check here keeps one answer for every caller.)
 */
export function checkPreface(event: DecodedEvent, peer: PeerRole = 'peer'): void {
  if (event.type !== 'preface') throw new P2pdError('PROTOCOL_UNEXPECTED', `expected the preface, got ${event.type}`);
  if (event.version !== PROTOCOL_VERSION) {
    throw new P2pdError('PROTOCOL_VERSION', `the ${peer} speaks protocol version ${event.version}; this p2pd speaks ${PROTOCOL_VERSION}`, {
      details: { version: event.version, supported: [PROTOCOL_VERSION] },
    });
  }
}

/** The peer's second event must be its HELLO. */
export function checkHello(event: DecodedEvent): HelloMessage {
  if (event.type !== 'hello') throw new P2pdError('PROTOCOL_UNEXPECTED', `expected HELLO, got ${event.type}`);
  return event;
}

/** Whether both sides listed `feature` (a side uses a feature only then). */
export function bothSupport(local: LocalHello, peer: HelloMessage, feature: Feature): boolean {
  return local.features.includes(feature) && peer.features.includes(feature);
}
