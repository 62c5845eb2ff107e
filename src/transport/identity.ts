/**
 * This device's identity: a key pair and a self-signed certificate under `<stateDir>/identity/`.
 * The peer id is derived from the public key alone, so the certificate can be re-issued for the
 * same key without changing who we are; losing the key means a new identity.
 *
 * Key material never appears in an error message, in `details` or in a log: errors name files.
 */
import { createPrivateKey, generateKeyPair, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { P2pdError } from '../errors.js';
import { selfSignedCertificate } from './certificate.js';
import { peerIdFromCertificate } from './peer-id.js';

export interface Identity {
  /** The canonical peer id (52 base32 characters). */
  readonly id: string;
  /** PKCS#8 PEM. Not enumerable, so that logging or serialising an Identity cannot leak it. */
  readonly keyPem: string;
  readonly certPem: string;
  /** ISO 8601 time the certificate was issued. */
  readonly createdAt: string;
}

export interface IdentityPaths {
  readonly dir: string;
  readonly key: string;
  readonly cert: string;
}

/** Where the identity of a state directory lives. */
export function identityPaths(stateDir: string): IdentityPaths {
  const dir = join(stateDir, 'identity');
  return { dir, key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') };
}

/** The certificate starts a day early so that a peer whose clock is behind does not see it as not yet valid. */
const BACKDATE_MS = 24 * 60 * 60 * 1000;
const VALIDITY_YEARS = 100;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const DIR_MODE = 0o700;

const generateKeys = promisify(generateKeyPair);

const MOVE_ASIDE =
  'Move the identity directory aside (for example rename it to identity.old) to start with a new identity; ' +
  'peers that trusted this device will have to trust it again.';
const REISSUE = 'Move cert.pem aside to have a new certificate issued for the same key (the id stays the same), or ' + MOVE_ASIDE;

function invalid(file: string, problem: string, hint: string, cause?: unknown): P2pdError {
  return new P2pdError('IDENTITY_INVALID', `${file}: ${problem}. ${hint}`, {
    details: { file },
    ...(cause === undefined ? {} : { cause: redactCause(cause) }),
  });
}

/**
 * OpenSSL's messages do not quote key bytes, but a cause is logged verbatim: keep only its name,
 * code and message, never anything it might hold a reference to.
 */
function redactCause(cause: unknown): Error {
  if (!(cause instanceof Error)) return new Error(String(cause).slice(0, 200));
  const copy = new Error(cause.message);
  copy.name = cause.name;
  const code = (cause as NodeJS.ErrnoException).code;
  if (code !== undefined) (copy as NodeJS.ErrnoException).code = code;
  return copy;
}

/**
 * Loads the identity of `dir` (the state directory), creating it on first start.
 * Never replaces an existing key; a missing certificate is re-issued for the existing key.
 * Throws IDENTITY_INVALID naming the file when anything is unreadable or inconsistent.
 */
export async function loadOrCreateIdentity({
  dir,
  signal,
  keyAlgorithm = 'Ed25519',
}: {
  dir: string;
  signal?: AbortSignal;
  /** For a new key only. LocalSend's certificate is ECDSA P-256, which every LocalSend client's TLS stack takes. */
  keyAlgorithm?: 'Ed25519' | 'P-256';
}): Promise<Identity> {
  signal?.throwIfAborted();
  const paths = identityPaths(dir);
  await ensureDirectory(paths.dir);
  // Two rounds at most: if another process publishes a key between our read and our write, the
  // second round loads its key instead of ours.
  for (let round = 0; ; round++) {
    signal?.throwIfAborted();
    const keyPem = await readIfExists(paths.key);
    const certPem = await readIfExists(paths.cert);
    if (keyPem !== null && certPem !== null) {
      const identity = loadIdentity(paths, keyPem, certPem);
      await restrictKeyMode(paths.key);
      return identity;
    }
    if (keyPem === null && certPem !== null) {
      throw invalid(paths.key, 'the private key is missing but a certificate exists', MOVE_ASIDE);
    }
    if (keyPem !== null) {
      const key = parsePrivateKey(paths.key, keyPem);
      await publishCertificate(paths, issueCertificate(key), signal);
      continue;
    }
    if (round > 0) throw invalid(paths.key, 'the key vanished while the identity was being created', MOVE_ASIDE);
    // Ed25519 handshakes both ways under Node 20's TLS 1.3 (checked by transport-tls tests).
    const { privateKey } = keyAlgorithm === 'P-256' ? await generateKeys('ec', { namedCurve: 'P-256' }) : await generateKeys('ed25519');
    signal?.throwIfAborted();
    const newKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    // The key goes first: a crash before the certificate is written leaves a key whose certificate
    // the next start re-issues, never a certificate without its key.
    if (await publishFile(paths.key, newKeyPem, KEY_MODE)) {
      await publishCertificate(paths, issueCertificate(privateKey), signal);
    }
  }
}

async function publishCertificate(paths: IdentityPaths, certPem: string, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  await publishFile(paths.cert, certPem, CERT_MODE);
}

function loadIdentity(paths: IdentityPaths, keyPem: string, certPem: string): Identity {
  const key = parsePrivateKey(paths.key, keyPem);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw invalid(paths.cert, 'not a readable X.509 certificate', REISSUE, err);
  }
  if (!cert.checkPrivateKey(key)) {
    throw invalid(paths.cert, 'the certificate was made for another key than key.pem', REISSUE);
  }
  if (!cert.verify(cert.publicKey)) {
    throw invalid(paths.cert, 'the certificate is not validly self-signed', REISSUE);
  }
  const issued = Date.parse(cert.validFrom);
  if (Number.isNaN(issued)) throw invalid(paths.cert, 'the certificate has no readable start date', REISSUE);
  return makeIdentity({
    id: peerIdFromCertificate(cert),
    keyPem,
    certPem,
    createdAt: new Date(issued + BACKDATE_MS).toISOString(),
  });
}

function makeIdentity(fields: Identity): Identity {
  const identity = { id: fields.id, certPem: fields.certPem, createdAt: fields.createdAt } as Identity;
  Object.defineProperty(identity, 'keyPem', { value: fields.keyPem, enumerable: false });
  return Object.freeze(identity);
}

function parsePrivateKey(file: string, pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw invalid(file, 'not a readable unencrypted private key', MOVE_ASIDE, err);
  }
  const type = key.asymmetricKeyType;
  const usable = type === 'ed25519' || (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1');
  if (!usable) throw invalid(file, `a ${type ?? 'unknown'} key, but p2pd uses Ed25519 or ECDSA P-256 keys`, MOVE_ASIDE);
  return key;
}

function issueCertificate(key: KeyObject): string {
  const now = Date.now();
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALIDITY_YEARS);
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and without a leading zero byte
  return selfSignedCertificate(key, { serial, commonName: 'p2pd', notBefore: new Date(now - BACKDATE_MS), notAfter });
}

/** A key readable by group or others (copied by hand, restored from a backup) is made private again. */
async function restrictKeyMode(file: string): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, KEY_MODE);
  } catch (err) {
    throw invalid(file, `cannot restrict its permissions to 0600 (${errnoOf(err)})`, 'Check its owner.', err);
  }
}

async function ensureDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    const info = await stat(dir);
    if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    if (process.platform !== 'win32' && (info.mode & 0o777) !== DIR_MODE) await chmod(dir, DIR_MODE);
  } catch (err) {
    throw invalid(dir, `cannot create or open the identity directory (${errnoOf(err)})`, 'Check its owner and permissions.', err);
  }
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw invalid(file, `cannot be read (${errnoOf(err)})`, 'Check its owner and permissions, or ' + MOVE_ASIDE, err);
  }
}

/**
 * Writes `data` to `file` through a temporary file that is synced and then hard-linked into
 * place, so `file` is either absent or complete and an existing file is never replaced.
 * Returns false if `file` already existed. Falls back to rename where hard links are unsupported.
 */
async function publishFile(file: string, data: string, mode: number): Promise<boolean> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temp, file);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
      if ((await readIfExists(file)) !== null) return false;
      await rename(temp, file);
    }
    await syncDirectory(file);
    return true;
  } catch (err) {
    throw invalid(file, `cannot be written (${errnoOf(err)})`, 'Check the free space, owner and permissions of the state directory.', err);
  } finally {
    await rm(temp, { force: true });
  }
}

async function syncDirectory(file: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(join(file, '..'), 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? 'error';
}
