/**
 * Options for a sender and a receiver session run against each other in a unit test: short
 * timeouts, generous limits, a receiver that lets everyone in. Tests override what they test.
 */
import type { ReceiverOptions } from '../../src/transfer/receiver.js';
import type { SenderOptions } from '../../src/transfer/sender.js';

export function receiverOptions(over: Partial<ReceiverOptions> = {}): ReceiverOptions {
  return {
    peerId: 'A'.repeat(52),
    localName: 'bob',
    software: 'test',
    signal: new AbortController().signal,
    handshakeTimeoutMs: 2000,
    idleTimeoutMs: 5000,
    limits: { maxOfferFiles: 10_000, maxOfferBytes: 0, maxFileSize: 0 },
    authorize: () => undefined,
    ...over,
  };
}

export function senderOptions(signal = new AbortController().signal): SenderOptions {
  return { transferId: 't1', localName: 'alice', software: 'test', signal, handshakeTimeoutMs: 2000, idleTimeoutMs: 5000 };
}
