/**
 * The short verification code both sides of a pairing show. It binds both identities (as each
 * side saw them in the TLS handshake) and both nonces; the initiator committed to its nonce before
 * seeing the responder's, so nobody in the middle can steer the two codes to agree. A man in the
 * middle necessarily presents its own key to each side, so the two sides compute different codes.
 */
import { createHash } from 'node:crypto';

export const PAIRING_CODE_DIGITS = 6;

export function pairingCommit(nonceHex: string): string {
  return createHash('sha256').update('p2pd pairing commit v1\n').update(Buffer.from(nonceHex, 'hex')).digest('hex');
}

/** Six digits, shown as "123 456". `initiatorId` and `responderId` are canonical peer ids. */
export function pairingCode(p: { initiatorId: string; responderId: string; initiatorNonce: string; responderNonce: string }): string {
  const h = createHash('sha256')
    .update('p2pd pairing code v1\n')
    .update(`${p.initiatorId}\n${p.responderId}\n`)
    .update(Buffer.from(p.initiatorNonce, 'hex'))
    .update(Buffer.from(p.responderNonce, 'hex'))
    .digest();
  // 48 bits reduced to 10^6: the bias is below 2^-28, irrelevant next to a 1-in-a-million guess.
  const n = h.readUIntBE(0, 6) % 10 ** PAIRING_CODE_DIGITS;
  const digits = String(n).padStart(PAIRING_CODE_DIGITS, '0');
  return `${digits.slice(0, 3)} ${digits.slice(3)}`;
}
