/**
 * Hashing big files on a thread of their own: the same hash list, digest for digest, as hashing
 * in place, whatever the chunking; whole blocks reported in order; a stopped or idle thread.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BLOCK_SIZE } from '../../src/protocol/messages.js';
import { BlockHasher, fileHash, OFFLOAD_MIN_BYTES } from '../../src/transfer/block-hash.js';
import { HashWorker, OffloadedBlockHasher } from '../../src/transfer/hash-offload.js';
import { P2pdError } from '../../src/errors.js';

const data = randomBytes(3 * BLOCK_SIZE + 12_345);

function inline(bytes: Buffer, prefix: Buffer[] = []): { root: string; blocks: Buffer[] } {
  const blocks: Buffer[] = [];
  const h = new BlockHasher({ prefix, onBlock: (d) => blocks.push(d) });
  h.update(bytes);
  return { root: h.root(), blocks };
}

async function offloaded(worker: HashWorker, bytes: Buffer, chunk: number, prefix: Buffer[] = []): Promise<{ root: string; blocks: Buffer[] }> {
  const blocks: Buffer[] = [];
  const h = new OffloadedBlockHasher(worker, { prefix, onBlock: (d) => blocks.push(d) });
  for (let at = 0; at < bytes.length; at += chunk) await h.update(bytes.subarray(at, at + chunk));
  return { root: await h.final(), blocks };
}

describe('hashing on a worker thread', () => {
  const worker = new HashWorker();
  after(() => worker.stop());

  for (const size of [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE, data.length]) {
    for (const chunk of [1000, 65_536, BLOCK_SIZE, 3 * BLOCK_SIZE]) {
      it(`${size} bytes in chunks of ${chunk}: the same root and block digests as in place`, async () => {
        const bytes = data.subarray(0, size);
        const got = await offloaded(worker, bytes, chunk);
        const want = inline(bytes);
        assert.equal(got.root, want.root);
        assert.deepEqual(got.blocks, want.blocks, 'whole blocks only, in order');
      });
    }
  }

  it('a resumed file: the kept prefix digests count, only the new blocks are reported', async () => {
    const prefix = inline(data.subarray(0, 2 * BLOCK_SIZE)).blocks;
    const got = await offloaded(worker, data.subarray(2 * BLOCK_SIZE), 65_536, prefix);
    assert.equal(got.root, inline(data).root);
    assert.equal(got.blocks.length, 1);
  });

  it('several files at once keep their own blocks apart', async () => {
    const other = Buffer.alloc(data.length, 7);
    const [a, b] = await Promise.all([offloaded(worker, data, 40_000), offloaded(worker, other, 70_000)]);
    assert.equal(a.root, inline(data).root);
    assert.equal(b.root, inline(other).root);
  });

  it('fileHash hashes in place below the threshold and without "resume"', async () => {
    const idle = new HashWorker();
    const small = fileHash(true, { worker: idle, bytes: OFFLOAD_MIN_BYTES - 1 });
    assert.equal(small.update(data.subarray(0, 100)), undefined);
    await small.final();
    const plain = fileHash(false, { worker: idle, bytes: data.length });
    assert.equal(plain.update(data), undefined, 'hashed in place');
    await plain.final();
    assert.equal(idle.running, false, 'no thread was started');
    const big = fileHash(true, { worker: idle, bytes: data.length });
    await big.update(data);
    assert.equal(await big.final(), inline(data).root);
    assert.equal(idle.running, true);
    await idle.stop();
  });
});

describe('the hashing thread comes and goes', () => {
  it('ends after a quiet spell and starts again on the next block', async () => {
    const worker = new HashWorker({ idleMs: 50 });
    try {
      await offloaded(worker, data, BLOCK_SIZE);
      assert.equal(worker.running, true);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(worker.running, false, 'the idle thread ended');
      const again = await offloaded(worker, data, BLOCK_SIZE);
      assert.equal(again.root, inline(data).root);
    } finally {
      await worker.stop();
    }
  });

  it('after stop() a file being hashed fails with TRANSFER_CANCELLED, not a hang', async () => {
    const worker = new HashWorker();
    const h = new OffloadedBlockHasher(worker);
    await h.update(data.subarray(0, 2 * BLOCK_SIZE));
    await worker.stop();
    assert.equal(worker.running, false);
    await h.update(data.subarray(2 * BLOCK_SIZE));
    await assert.rejects(h.final(), (err: unknown) => err instanceof P2pdError && err.code === 'TRANSFER_CANCELLED');
  });
});
