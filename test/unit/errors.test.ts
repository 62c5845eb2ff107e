import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, EXIT, P2pdError, faultSide, isErrorCode, isPermanent, isRefusal, isRetryable, toP2pdError, type ErrorCode } from '../../src/errors.js';

const doc = readFileSync(fileURLToPath(new URL('../../../docs/ERRORS.md', import.meta.url)), 'utf8');

interface CodeRow {
  exit: number;
  side: string;
  retried: boolean;
  refusal: boolean;
  permanent: boolean;
  meaning: string;
}

/** Rows "| `CODE` | exit | side | retried | refusal | permanent | meaning |" of the code tables. */
function documentedCodes(): Map<string, CodeRow> {
  const rows = new Map<string, CodeRow>();
  const flag = (cell: string): boolean => {
    assert.ok(cell === 'yes' || cell === '—', `a flag cell reads "${cell}"`);
    return cell === 'yes';
  };
  for (const match of doc.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*(\d+)\s*\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|(.*)\|\s*$/gm)) {
    const [, code, exit, side, retried, refusal, permanent, meaning] = match as unknown as string[];
    assert.ok(!rows.has(code!), `docs/ERRORS.md lists ${code} twice`);
    rows.set(code!, {
      exit: Number(exit),
      side: side!.trim(),
      retried: flag(retried!.trim()),
      refusal: flag(refusal!.trim()),
      permanent: flag(permanent!.trim()),
      meaning: meaning!.trim(),
    });
  }
  return rows;
}

/** Rows "| status | `NAME` | meaning |" of the exit status table. */
function documentedExits(): Map<string, number> {
  const rows = new Map<string, number>();
  for (const match of doc.matchAll(/^\|\s*(\d+)\s*\|\s*`([A-Z_]+)`\s*\|/gm)) rows.set(match[2]!, Number(match[1]));
  return rows;
}

describe('docs/ERRORS.md mirrors ERROR_CODES', () => {
  const rows = documentedCodes();

  test('every code is documented with its exit status and summary', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const row = rows.get(code);
      assert.ok(row !== undefined, `docs/ERRORS.md has no row for ${code}`);
      assert.equal(row.exit, info.exit, `exit status of ${code}`);
      assert.equal(row.meaning, info.summary, `meaning of ${code}`);
      const c = code as ErrorCode;
      assert.equal(row.side, faultSide(c), `side of ${code}`);
      assert.equal(row.retried, isRetryable(c), `retried of ${code}`);
      assert.equal(row.refusal, isRefusal(c), `refusal of ${code}`);
      assert.equal(row.permanent, isPermanent(c), `permanent of ${code}`);
    }
  });

  test('every documented code exists', () => {
    assert.ok(rows.size > 0, 'no code rows parsed from docs/ERRORS.md');
    for (const code of rows.keys()) assert.ok(isErrorCode(code), `docs/ERRORS.md lists ${code}, which ERROR_CODES lacks`);
  });

  test('the exit status table matches EXIT', () => {
    const exits = documentedExits();
    assert.deepEqual(Object.fromEntries(exits), { ...EXIT });
  });

  test('every exit status a code uses is in EXIT', () => {
    const statuses = new Set<number>(Object.values(EXIT));
    for (const [code, info] of Object.entries(ERROR_CODES)) assert.ok(statuses.has(info.exit), `${code} exits with ${info.exit}`);
  });
});

describe('P2pdError over JSON', () => {
  test('toJSON then fromJSON keeps code, message and details', () => {
    const original = new P2pdError('CONFIG_INVALID', 'bad port', { details: { key: 'port', allowed: 'an integer' } });
    const copy = P2pdError.fromJSON(JSON.parse(JSON.stringify(original)));
    assert.ok(copy instanceof P2pdError);
    assert.equal(copy.code, original.code);
    assert.equal(copy.message, original.message);
    assert.deepEqual(copy.details, original.details);
    assert.equal(copy.exitStatus, EXIT.CONFIG);
  });

  test('without details, toJSON has no details key and the round trip keeps none', () => {
    const original = new P2pdError('PEER_BUSY', 'busy');
    const json = JSON.parse(JSON.stringify(original)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json).sort(), ['code', 'message']);
    assert.equal(P2pdError.fromJSON(json).details, undefined);
  });

  test('every code survives the round trip', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      assert.equal(P2pdError.fromJSON(new P2pdError(code, 'x').toJSON()).code, code);
    }
  });

  test('an unknown or missing code becomes INTERNAL', () => {
    for (const value of [{ code: 'NO_SUCH_CODE', message: 'm' }, { code: 'toString', message: 'm' }, { message: 'm' }, null, 'text', 42]) {
      assert.equal(P2pdError.fromJSON(value).code, 'INTERNAL', JSON.stringify(value));
    }
  });
});

describe('toP2pdError', () => {
  function errno(code: string): NodeJS.ErrnoException {
    return Object.assign(new Error(code), { code });
  }

  test('ENOSPC → DISK_FULL, keeping the cause', () => {
    const cause = errno('ENOSPC');
    const err = toP2pdError(cause);
    assert.equal(err.code, 'DISK_FULL');
    assert.equal(err.cause, cause);
  });

  test('EPIPE → CONNECTION_LOST', () => {
    assert.equal(toP2pdError(errno('EPIPE')).code, 'CONNECTION_LOST');
  });

  test('an AbortError → TRANSFER_CANCELLED', () => {
    const controller = new AbortController();
    controller.abort();
    let thrown: unknown;
    try {
      controller.signal.throwIfAborted();
    } catch (err) {
      thrown = err;
    }
    assert.equal(toP2pdError(thrown).code, 'TRANSFER_CANCELLED');
    assert.equal(toP2pdError(new DOMException('stop', 'AbortError')).code, 'TRANSFER_CANCELLED');
  });

  test('a P2pdError passes through unchanged; anything else takes the fallback', () => {
    const original = new P2pdError('PEER_BUSY', 'busy');
    assert.equal(toP2pdError(original), original);
    assert.equal(toP2pdError(new Error('boom')).code, 'INTERNAL');
    assert.equal(toP2pdError('a string', 'SOURCE_NOT_FOUND').code, 'SOURCE_NOT_FOUND');
  });
});

describe('the facts of the error table', () => {
  test('what is retried may heal by itself, and nothing retried is permanent', () => {
    const retried = (Object.keys(ERROR_CODES) as ErrorCode[]).filter(isRetryable).sort();
    assert.deepEqual(retried, ['CONNECTION_LOST', 'DAEMON_NOT_RUNNING', 'PEER_BUSY', 'PEER_UNREACHABLE', 'SOURCE_CHANGED', 'TIMEOUT', 'TLS_FAILED']);
    for (const code of retried) assert.equal(isPermanent(code), false, code);
  });

  test('refusals are what a receiver answers an offer with, and none is retried', () => {
    const refusals = (Object.keys(ERROR_CODES) as ErrorCode[]).filter(isRefusal).sort();
    assert.deepEqual(refusals, [
      'DISK_FULL',
      'INBOX_UNWRITABLE',
      'INSUFFICIENT_SPACE',
      'NAME_INVALID',
      'OFFER_INVALID',
      'OFFER_TOO_LARGE',
      'PEER_NOT_TRUSTED',
      'PEER_REFUSED',
    ]);
    for (const code of refusals) assert.equal(isRetryable(code), false, code);
  });

  test("a broken link is the network's doing, a protocol breach the peer's", () => {
    assert.equal(faultSide('CONNECTION_LOST'), 'network');
    assert.equal(faultSide('PROTOCOL_TRUNCATED'), 'network');
    assert.equal(faultSide('PROTOCOL_UNEXPECTED'), 'peer');
    assert.equal(faultSide('SOURCE_CHANGED'), 'local');
    assert.equal(faultSide('PEER_REFUSED'), 'policy');
  });
});
