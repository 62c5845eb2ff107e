/**
 * Peer ids: who a peer is, independent of where it is. An id is the SHA-256 of the peer's public
 * key (its SubjectPublicKeyInfo DER), written in RFC 4648 base32 (A–Z, 2–7, upper case, no
 * padding): 52 characters. Pure functions, no I/O.
 */
import { createHash, type X509Certificate } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** ceil(256 / 5): the last character carries one bit of the digest and four zero bits. */
export const PEER_ID_LENGTH = 52;
const CANONICAL = /^[A-Z2-7]{51}[AQ]$/;

function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** The peer id of a public key given as SubjectPublicKeyInfo DER. */
export function peerIdFromSpki(der: Buffer): string {
  return base32(createHash('sha256').update(der).digest());
}

/** The peer id of the key a certificate carries (the certificate's other fields do not matter). */
export function peerIdFromCertificate(cert: X509Certificate): string {
  return peerIdFromSpki(cert.publicKey.export({ type: 'spki', format: 'der' }));
}

/**
 * True for a canonical id: 52 upper-case base32 characters whose unused trailing bits are zero,
 * so that every digest has exactly one spelling.
 */
export function isPeerId(s: unknown): s is string {
  return typeof s === 'string' && CANONICAL.test(s);
}

/**
 * Reads an id typed or pasted by a person: any case, with or without dashes and spaces.
 * Returns the canonical form, or null if the input is not an id.
 */
export function parsePeerId(input: string): string | null {
  if (typeof input !== 'string' || input.length > 2 * PEER_ID_LENGTH) return null;
  const compact = input.replace(/[\s-]/g, '').toUpperCase();
  return isPeerId(compact) ? compact : null;
}

/** Groups of four joined by "-", for reading aloud: "ABCD-EFGH-…-WXYQ" (13 groups). */
export function formatPeerId(id: string): string {
  return id.match(/.{1,4}/g)?.join('-') ?? '';
}

/** The first seven characters: enough to tell peers apart in a list ("name#ABCDEFG"). */
export function shortId(id: string): string {
  return id.slice(0, 7);
}
