/**
 * The receiver's commit window (transfer/commit-queue.ts): results go out in the order the files
 * came, and a settled commit is not kept, so a transfer of many files does not hold one per file.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CommitQueue } from '../../src/transfer/commit-queue.js';
import type { FileOutcome } from '../../src/transfer/progress.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('the commit window', () => {
  it('sends results in order and keeps no settled commit', async () => {
    const order: number[] = [];
    const seen: Array<WeakRef<FileOutcome>> = [];
    const queue = new CommitQueue(
      {
        onResult: (o) => {
          order.push(o.index);
          seen.push(new WeakRef(o));
        },
      },
      { maxFiles: 8, maxBytes: 1 << 30, maxHeldBytes: 1 << 30 },
    );
    for (let index = 0; index < 300; index++) {
      // Later files finish first: the results still go out in order.
      const commit = (): Promise<string> => new Promise((resolve) => setTimeout(() => resolve(`f${index}`), (300 - index) % 5));
      await queue.add({ index, path: `f${index}`, bytes: 1, held: 0 }, commit, async () => undefined);
    }
    await queue.drain();
    assert.deepEqual(
      order,
      Array.from({ length: 300 }, (_, i) => i),
    );
    assert.deepEqual(queue.inFlight, { files: 0, bytes: 0, held: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    assert.equal(seen.filter((ref) => ref.deref() !== undefined).length, 0, 'outcomes still held by the queue');
  });
});
