/**
 * A transfer's failure raced against its steps (transfer/failure.ts): each step settles as it
 * would alone unless the failure comes first, and a settled step leaves nothing behind, however
 * many there are.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Failure } from '../../src/transfer/failure.js';

describe('a failure raced against each step', () => {
  it('a step settles as it would alone, and leaves no listener behind', async () => {
    const failure = new Failure();
    for (let i = 0; i < 1000; i++) assert.equal(await failure.race(Promise.resolve(i)), i);
    await assert.rejects(failure.race(Promise.reject(new Error('step failed'))), /step failed/);
    assert.equal(failure.racing, 0);
  });

  it('fails the steps racing now and every later one with the first error', async () => {
    const failure = new Failure();
    const pending = failure.race(new Promise(() => undefined));
    assert.equal(failure.racing, 1);
    failure.fail(new Error('connection lost'));
    failure.fail(new Error('a second failure is ignored'));
    await assert.rejects(pending, /connection lost/);
    await assert.rejects(failure.race(Promise.resolve(1)), /connection lost/);
    assert.equal(failure.racing, 0);
  });
});
