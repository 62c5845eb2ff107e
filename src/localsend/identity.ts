/**
 * The certificate p2pd shows LocalSend devices: its own ECDSA P-256 key and self-signed certificate
 * under `<stateDir>/localsend/identity/`, made once and kept (the same machinery as p2pd's
 * identity), so that the fingerprint LocalSend apps remember stays the same across restarts.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { loadOrCreateIdentity } from '../transport/identity.js';

export interface LocalSendIdentity {
  /** SHA-256 of the certificate's DER bytes, upper-case hex: LocalSend's device fingerprint. */
  readonly fingerprint: string;
  readonly certPem: string;
  /** Not enumerable, so that logging the identity cannot leak it. */
  readonly keyPem: string;
}

/** LocalSend's fingerprint of a certificate: SHA-256 of its DER encoding, upper-case hex. */
export function certificateFingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase();
}

/** Whether two fingerprints name the same certificate (apps differ in the case of their hex). */
export function sameFingerprint(a: string, b: string): boolean {
  return a.length === 64 && a.toUpperCase() === b.toUpperCase();
}

export async function loadLocalSendIdentity(options: { stateDir: string; signal?: AbortSignal }): Promise<LocalSendIdentity> {
  const id = await loadOrCreateIdentity({
    dir: join(options.stateDir, 'localsend'),
    keyAlgorithm: 'P-256',
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const identity = { fingerprint: certificateFingerprint(new X509Certificate(id.certPem).raw), certPem: id.certPem } as LocalSendIdentity;
  Object.defineProperty(identity, 'keyPem', { value: id.keyPem, enumerable: false });
  return Object.freeze(identity);
}
