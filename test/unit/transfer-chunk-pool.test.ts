import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterUses, ChunkPool } from '../../src/transfer/chunk-pool.js';

test('a buffer given back is handed out again, whole or in part', () => {
  const pool = new ChunkPool({ size: 1024, max: 2 });
  const a = pool.take(1024);
  assert.equal(a.length, 1024);
  pool.give(a);
  const b = pool.take(100);
  assert.equal(b.length, 100);
  assert.equal(b.buffer, a.buffer, 'the same memory');
  assert.equal(pool.outstanding, 1);
});

test('a part of a chunk gives its buffer back; a second give of it changes nothing', () => {
  const pool = new ChunkPool({ size: 1024, max: 4 });
  const a = pool.take(1024);
  pool.give(a.subarray(200));
  pool.give(a);
  const b = pool.take(1024);
  const c = pool.take(1024);
  assert.equal(b.buffer, a.buffer);
  assert.notEqual(c.buffer, a.buffer, 'never handed out twice at once');
});

test('foreign buffers and buffers beyond max are left to the garbage collector', () => {
  const pool = new ChunkPool({ size: 64, max: 1 });
  pool.give(Buffer.alloc(64));
  const [a, b] = [pool.take(64), pool.take(64)];
  pool.give(a);
  pool.give(b);
  assert.equal(pool.outstanding, 0);
  const c = pool.take(64);
  const d = pool.take(64);
  assert.equal(c.buffer, a.buffer);
  assert.notEqual(d.buffer, b.buffer, 'only one free buffer was kept');
  // Larger than the pool's buffers: allocated apart, never pooled.
  const big = pool.take(65);
  assert.equal(big.length, 65);
  pool.give(big);
  assert.equal(pool.outstanding, 2);
});

test('afterUses calls once, on the last use', () => {
  let calls = 0;
  const done = afterUses(2, () => calls++);
  done();
  assert.equal(calls, 0);
  done();
  assert.equal(calls, 1);
  done();
  assert.equal(calls, 1);
});

test('with keepSmallBytes, a small request gets a small buffer of its size class, used again', () => {
  const pool = new ChunkPool({ size: 1024 * 1024, max: 2, keepSmallBytes: 16 * 1024 });
  const a = pool.take(3000);
  assert.equal(a.length, 3000);
  assert.equal(a.buffer.byteLength, 4096, 'the 4 KiB class, not a 1 MiB chunk');
  assert.equal(pool.take(5000).buffer.byteLength, 16 * 1024);
  assert.equal(pool.take(256 * 1024).buffer.byteLength, 256 * 1024);
  assert.equal(pool.take(256 * 1024 + 1).buffer.byteLength, 1024 * 1024);
  pool.give(a);
  assert.equal(pool.take(4096).buffer, a.buffer);
  // 16 KiB of free 4 KiB buffers at most: the fifth given back is dropped.
  const five = Array.from({ length: 5 }, () => pool.take(10));
  for (const b of five) pool.give(b);
  const again = Array.from({ length: 5 }, () => pool.take(10).buffer);
  assert.equal(again.filter((b) => five.some((f) => f.buffer === b)).length, 4);
});
