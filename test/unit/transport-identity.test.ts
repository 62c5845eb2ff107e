import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmod, copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { P2pdError } from '../../src/errors.js';
import {
  PEER_ID_LENGTH,
  formatPeerId,
  identityPaths,
  isPeerId,
  loadOrCreateIdentity,
  parsePeerId,
  peerIdFromCertificate,
  peerIdFromSpki,
  shortId,
} from '../../src/transport/index.js';

const POSIX = process.platform !== 'win32';

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pd-identity-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function isIdentityInvalid(file: string, secret?: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof P2pdError, `expected a P2pdError, got ${String(err)}`);
    assert.equal(err.code, 'IDENTITY_INVALID');
    assert.equal(err.details?.file, file);
    if (secret !== undefined) {
      assert.ok(!err.message.includes(secret), 'key material in the message');
      assert.ok(!JSON.stringify(err.toJSON()).includes(secret), 'key material in the details');
      assert.ok(!String((err.cause as Error | undefined)?.message ?? '').includes(secret), 'key material in the cause');
    }
    return true;
  };
}

/** The base64 body of a PEM, the part that must never be shown. */
function pemBody(pem: string): string {
  return pem
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('-----'))
    .join('');
}

test('first start creates a key (0600) and a certificate (0644) in a 0700 directory', async () => {
  await withTempDir(async (dir) => {
    const identity = await loadOrCreateIdentity({ dir });
    const paths = identityPaths(dir);
    assert.ok(isPeerId(identity.id));
    assert.equal(identity.id, peerIdFromCertificate(new X509Certificate(await readFile(paths.cert))));
    assert.equal(await readFile(paths.key, 'utf8'), identity.keyPem);
    assert.equal(await readFile(paths.cert, 'utf8'), identity.certPem);
    assert.ok(!Number.isNaN(Date.parse(identity.createdAt)));
    assert.ok(Math.abs(Date.parse(identity.createdAt) - Date.now()) < 60_000);
    const cert = new X509Certificate(identity.certPem);
    assert.equal(cert.subject, 'CN=p2pd');
    assert.ok(Date.parse(cert.validTo) - Date.now() > 99 * 365 * 24 * 3600 * 1000);
    if (POSIX) {
      assert.equal((await stat(paths.key)).mode & 0o777, 0o600);
      assert.equal((await stat(paths.cert)).mode & 0o777, 0o644);
      assert.equal((await stat(paths.dir)).mode & 0o777, 0o700);
    }
    // Logging or serialising the identity shows no key material.
    assert.ok(!JSON.stringify(identity).includes('PRIVATE KEY'));
    assert.ok(!Object.keys(identity).includes('keyPem'));
  });
});

test('second start loads the same identity', async () => {
  await withTempDir(async (dir) => {
    const first = await loadOrCreateIdentity({ dir });
    const second = await loadOrCreateIdentity({ dir });
    assert.equal(second.id, first.id);
    assert.equal(second.certPem, first.certPem);
    assert.equal(second.keyPem, first.keyPem);
    assert.equal(second.createdAt, first.createdAt);
  });
});

test('a key readable by others is made private again on load', { skip: !POSIX }, async () => {
  await withTempDir(async (dir) => {
    const first = await loadOrCreateIdentity({ dir });
    const paths = identityPaths(dir);
    await chmod(paths.key, 0o644);
    await chmod(paths.dir, 0o755);
    const second = await loadOrCreateIdentity({ dir });
    assert.equal(second.id, first.id);
    assert.equal((await stat(paths.key)).mode & 0o777, 0o600);
    assert.equal((await stat(paths.dir)).mode & 0o777, 0o700);
  });
});

test('a corrupted key is IDENTITY_INVALID naming key.pem, without key material', async () => {
  await withTempDir(async (dir) => {
    const identity = await loadOrCreateIdentity({ dir });
    const paths = identityPaths(dir);
    const body = pemBody(identity.keyPem);
    // Flip characters in the middle of the base64 body.
    const broken = identity.keyPem.replace(body, body.slice(0, 10) + '!!!!' + body.slice(14));
    await writeFile(paths.key, broken);
    await assert.rejects(loadOrCreateIdentity({ dir }), isIdentityInvalid(paths.key, body.slice(20)));
    await writeFile(paths.key, 'not a key at all\n');
    await assert.rejects(loadOrCreateIdentity({ dir }), isIdentityInvalid(paths.key));
  });
});

test('a certificate made for another key is IDENTITY_INVALID naming cert.pem', async () => {
  await withTempDir(async (a) => {
    await withTempDir(async (b) => {
      const mine = await loadOrCreateIdentity({ dir: a });
      await loadOrCreateIdentity({ dir: b });
      await copyFile(identityPaths(b).cert, identityPaths(a).cert);
      await assert.rejects(loadOrCreateIdentity({ dir: a }), isIdentityInvalid(identityPaths(a).cert, pemBody(mine.keyPem)));
    });
  });
});

test('a garbled certificate is IDENTITY_INVALID naming cert.pem', async () => {
  await withTempDir(async (dir) => {
    await loadOrCreateIdentity({ dir });
    const paths = identityPaths(dir);
    await writeFile(paths.cert, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await assert.rejects(loadOrCreateIdentity({ dir }), isIdentityInvalid(paths.cert));
  });
});

test('a missing certificate is issued again for the same key: the id does not change', async () => {
  await withTempDir(async (dir) => {
    const first = await loadOrCreateIdentity({ dir });
    await rm(identityPaths(dir).cert);
    const second = await loadOrCreateIdentity({ dir });
    assert.equal(second.id, first.id);
    assert.equal(second.keyPem, first.keyPem);
    assert.notEqual(second.certPem, first.certPem);
  });
});

test('a certificate without its key is IDENTITY_INVALID and the certificate is kept', async () => {
  await withTempDir(async (dir) => {
    const first = await loadOrCreateIdentity({ dir });
    const paths = identityPaths(dir);
    await rm(paths.key);
    await assert.rejects(loadOrCreateIdentity({ dir }), isIdentityInvalid(paths.key));
    assert.equal(await readFile(paths.cert, 'utf8'), first.certPem);
  });
});

test('an aborted signal creates nothing', async () => {
  await withTempDir(async (dir) => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(loadOrCreateIdentity({ dir, signal: controller.signal }), { name: 'AbortError' });
    await assert.rejects(stat(identityPaths(dir).dir), { code: 'ENOENT' });
  });
});

test('peer ids: SHA-256 in RFC 4648 base32, 52 characters', () => {
  // Reference values from Python's base64.b32encode(hashlib.sha256(x).digest()).rstrip('=').
  assert.equal(peerIdFromSpki(Buffer.alloc(0)), '4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ');
  assert.equal(peerIdFromSpki(Buffer.from('p2pd')), 'AVBSNPY3UE6NX4M244M4SAQO3DZPA6A7D6U65SLFLWRTTK7RO2DA');
  assert.equal(PEER_ID_LENGTH, 52);
});

test('peer ids: format, parse and short forms', () => {
  const id = '4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ';
  const formatted = formatPeerId(id);
  assert.equal(formatted, '4OYM-IQUY-7QOB-JGX3-6TEJ-S35Z-EQT2-4QPE-MSNZ-GTFE-SWMR-W6CS-XBKQ');
  assert.equal(parsePeerId(formatted), id);
  assert.equal(parsePeerId(formatted.toLowerCase()), id);
  assert.equal(parsePeerId(` ${formatted.replaceAll('-', ' ')} `), id);
  assert.equal(parsePeerId(id.toLowerCase()), id);
  assert.equal(shortId(id), '4OYMIQU');
  assert.ok(isPeerId(id));
  assert.ok(!isPeerId(id.toLowerCase()));
  assert.ok(!isPeerId(formatted));
});

test('peer ids: junk is rejected', () => {
  const id = '4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ';
  const junk = [
    '',
    'hello',
    id.slice(0, 51),
    id + 'A',
    id.slice(0, 10) + '0' + id.slice(11), // 0, 1, 8 and 9 are not base32
    id.slice(0, 10) + '1' + id.slice(11),
    id.slice(0, 10) + '8' + id.slice(11),
    id.slice(0, 51) + 'B', // the last character's four unused bits must be zero
    id.slice(0, 10) + '_' + id.slice(11),
    `${id}=`,
    'A'.repeat(500),
  ];
  for (const input of junk) {
    assert.equal(parsePeerId(input), null, input);
    assert.equal(isPeerId(input), false, input);
  }
  assert.equal(isPeerId(undefined), false);
  assert.equal(isPeerId(42), false);
});

test('peer ids: every digest round-trips through the readable form', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (bytes) => {
      const id = peerIdFromSpki(Buffer.from(bytes));
      assert.equal(id.length, 52);
      assert.match(id, /^[A-Z2-7]+$/);
      assert.ok(isPeerId(id));
      assert.equal(parsePeerId(formatPeerId(id).toLowerCase()), id);
    }),
  );
});
