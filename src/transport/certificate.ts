/**
 * A self-signed X.509 v3 certificate for one key, encoded here in DER by hand: the certificate
 * p2pd needs has one fixed shape (subject and issuer `CN=p2pd`, a validity, the key, two critical
 * extensions), and a general X.509 library costs a first start about 10 MB of memory that the
 * daemon keeps for the rest of its life (docs/PERFORMANCE.md#memory). Ed25519 and ECDSA P-256 keys.
 */
import { createPublicKey, sign, type KeyObject } from 'node:crypto';

/** Object identifiers, DER-encoded (tag and length included). */
const OID = {
  ed25519: Buffer.from('06032b6570', 'hex'), // 1.3.101.112
  ecdsaWithSha256: Buffer.from('06082a8648ce3d040302', 'hex'), // 1.2.840.10045.4.3.2
  commonName: Buffer.from('0603550403', 'hex'), // 2.5.4.3
  basicConstraints: Buffer.from('0603551d13', 'hex'), // 2.5.29.19
  keyUsage: Buffer.from('0603551d0f', 'hex'), // 2.5.29.15
};
const TRUE = Buffer.from('0101ff', 'hex');

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const sequence = (...content: Buffer[]): Buffer => tlv(0x30, ...content);

/** UTCTime up to 2049, GeneralizedTime from 2050 on (RFC 5280, 4.1.2.5); whole seconds, UTC. */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-12-07T14:41:45.123Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z'; // 20261207144145Z
  const year = date.getUTCFullYear();
  return year < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'latin1')) : tlv(0x18, Buffer.from(digits, 'latin1'));
}

/** `CN=<name>` as one PrintableString attribute. */
function name(commonName: string): Buffer {
  return sequence(tlv(0x31, sequence(OID.commonName, tlv(0x13, Buffer.from(commonName, 'latin1')))));
}

export interface CertificateOptions {
  /** Positive, without a leading zero byte (the caller's random bytes are taken as they are). */
  serial: Buffer;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * The PEM of a certificate for `privateKey`'s public key, signed by that key: an end entity
 * (`CA:FALSE`) for digital signatures only, both extensions critical.
 */
export function selfSignedCertificate(privateKey: KeyObject, options: CertificateOptions): string {
  const ecdsa = privateKey.asymmetricKeyType === 'ec';
  if (!ecdsa && privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`cannot certify a ${privateKey.asymmetricKeyType ?? 'unknown'} key`);
  const algorithm = sequence(ecdsa ? OID.ecdsaWithSha256 : OID.ed25519);
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const extensions = sequence(
    sequence(OID.basicConstraints, TRUE, tlv(0x04, sequence())),
    // digitalSignature: bit 0 of a one-byte BIT STRING with 7 unused bits
    sequence(OID.keyUsage, TRUE, tlv(0x04, tlv(0x03, Buffer.from([0x07, 0x80])))),
  );
  const issuer = name(options.commonName);
  const tbs = sequence(
    tlv(0xa0, tlv(0x02, Buffer.from([0x02]))), // version: v3
    tlv(0x02, options.serial),
    algorithm,
    issuer,
    sequence(time(options.notBefore), time(options.notAfter)),
    issuer,
    spki,
    tlv(0xa3, extensions),
  );
  // Ed25519 signs the message itself; ECDSA signs its SHA-256, as an ASN.1 (r, s) pair.
  const signature = sign(ecdsa ? 'sha256' : null, tbs, privateKey);
  const der = sequence(tbs, algorithm, tlv(0x03, Buffer.from([0]), signature));
  const body = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----`;
}
