/** Asserting a P2pdError: its stable code, and details.reason when the test names one. */
import assert from 'node:assert/strict';
import { P2pdError } from '../../src/errors.js';

/** Asserts that `promise` rejects with a P2pdError of `code` (and details.reason, when given). */
export async function rejectsWith(promise: Promise<unknown>, code: string, reason?: string): Promise<P2pdError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof P2pdError, `not a P2pdError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (reason !== undefined) assert.equal(err.details?.reason, reason, err.message);
    return err;
  }
  assert.fail(`expected ${code}, but it resolved`);
}
