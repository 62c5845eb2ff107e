/**
 * Public surface of the protocol module: the v1 message types and constants, the encoder and the
 * incremental decoder. Pure: bytes in, messages out; depends on errors.ts only.
 */
export * from './messages.js';
export { encodePreface, encodeMessage, encodeDataHeader, encodeOffer } from './codec.js';
export { FrameDecoder, type FrameDecoderOptions } from './decoder.js';
export { LIMITS } from './validate.js';
export { helloMessage, checkPreface, checkHello, bothSupport, type LocalHello, type PeerRole } from './handshake.js';
