/** What the TLS listener and dialer share: the TLS settings, reading the peer's id, small helpers. */
import type tls from 'node:tls';
import type { Identity } from './identity.js';
import { peerIdFromCertificate } from './peer-id.js';

export interface TransportLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * AES-128-GCM first: with AES-NI it is OpenSSL's fastest suite (4.4 GB/s per core here, against
 * 4.0 for AES-256-GCM and 3.8 for ChaCha20). Over loopback the difference is lost in noise: a
 * 1 GiB transfer costs the receiver about 0.9 s of CPU either way, most of it in Node's TLS
 * plumbing (16 KiB reads), not in the cipher. ChaCha20 stays for peers without AES instructions.
 */
export const TLS_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

/** TLS 1.3 only, our ciphers, our key and certificate: the same on both ends. */
export function secureContextOptions(identity: Identity): tls.SecureContextOptions {
  return {
    key: identity.keyPem,
    cert: identity.certPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: TLS_CIPHERS,
  };
}

/** Peer id of the certificate the other side presented, or null if it presented none. */
export function peerIdOf(socket: tls.TLSSocket): string | null {
  const cert = socket.getPeerX509Certificate();
  return cert === undefined ? null : peerIdFromCertificate(cert);
}

/** "::ffff:192.0.2.1" (an IPv4 client of a dual-stack listener) reads "192.0.2.1". */
export function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The signal's reason, or an AbortError as fetch() throws when there is none. */
export function abortReason(signal: AbortSignal): Error {
  return (signal.reason as Error | undefined) ?? new DOMException('This operation was aborted', 'AbortError');
}

/** A code and a message from anything thrown, for logs and failure details. */
export function describe(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return {
    code: typeof e?.code === 'string' ? e.code : 'ERROR',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}
