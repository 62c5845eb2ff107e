/**
 * Small files read whole on a thread (store/small-file-reader.ts): the bytes are those a streamed
 * read gives, files above the threshold still stream, a file that changed or went away fails with
 * the same codes, and the thread comes and goes by itself.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, mkdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WHOLE_READ_BYTES } from '../../src/store/small-file-reader.js';
import { scanLocalPaths } from '../../src/store/local-source.js';
import { SmallFileReader } from '../../src/store/small-file-reader.js';
import { ChunkPool } from '../../src/transfer/chunk-pool.js';

async function chunks(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of it) out.push(b);
  return out;
}

const signal = (): AbortSignal => new AbortController().signal;

describe('small files read whole on a thread', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2pd-reader-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('gives the bytes a streamed read gives, in one chunk; bigger files still stream', async () => {
    const tree = join(dir, 'sizes');
    await mkdir(tree);
    const sizes = [0, 1, 4096, WHOLE_READ_BYTES, WHOLE_READ_BYTES + 1];
    const contents = sizes.map((n) => randomBytes(n));
    for (const [i, c] of contents.entries()) await writeFile(join(tree, `f${i}`), c);
    const reader = new SmallFileReader();
    try {
      const streamed = await scanLocalPaths([tree]);
      const whole = await scanLocalPaths([tree], { reader });
      for (const [i, c] of contents.entries()) {
        const index = whole.entries.findIndex((e) => e.path === `sizes/f${i}`);
        const viaThread = await chunks(whole.read(index, { signal: signal() }));
        const viaStream = await chunks(streamed.read(index, { signal: signal() }));
        assert.deepEqual(Buffer.concat(viaThread), c, `f${i}`);
        assert.deepEqual(Buffer.concat(viaStream), c, `f${i} streamed`);
        if (c.length === 0) assert.equal(viaThread.length, 0, 'an empty file has no chunk');
        else if (c.length <= WHOLE_READ_BYTES) assert.equal(viaThread.length, 1, `f${i} in one chunk`);
      }
      assert.equal(reader.running, true);
    } finally {
      await reader.stop();
    }
  });

  it('reads into buffers from the pool it is given, and takes none for a read that fails', async () => {
    const tree = join(dir, 'pooled');
    await mkdir(tree);
    const content = randomBytes(3000);
    await writeFile(join(tree, 'kept'), content);
    await writeFile(join(tree, 'goes'), 'abc');
    const reader = new SmallFileReader();
    const pool = new ChunkPool({ size: 1024 * 1024, max: 2, keepSmallBytes: 64 * 1024 });
    try {
      const whole = await scanLocalPaths([tree], { reader });
      const kept = whole.entries.findIndex((e) => e.path === 'pooled/kept');
      const [chunk] = await chunks(whole.read(kept, { signal: signal(), buffers: pool }));
      assert.deepEqual(chunk, content);
      assert.equal(chunk!.buffer.byteLength, 4096, 'a pooled buffer of its size class');
      assert.equal(pool.outstanding, 1);
      pool.give(chunk!);
      await unlink(join(tree, 'goes'));
      const goes = whole.entries.findIndex((e) => e.path === 'pooled/goes');
      await assert.rejects(chunks(whole.read(goes, { signal: signal(), buffers: pool })), { code: 'SOURCE_NOT_FOUND' });
      assert.equal(pool.outstanding, 0, 'nothing taken for the failed read');
    } finally {
      await reader.stop();
    }
  });

  it('a file that grew since the scan is SOURCE_CHANGED; one that is gone is SOURCE_NOT_FOUND', async () => {
    const tree = join(dir, 'changes');
    await mkdir(tree);
    await writeFile(join(tree, 'grows'), 'abc');
    await writeFile(join(tree, 'goes'), 'abc');
    const reader = new SmallFileReader();
    try {
      const source = await scanLocalPaths([tree], { reader });
      await appendFile(join(tree, 'grows'), 'more');
      await unlink(join(tree, 'goes'));
      const at = (name: string): number => source.entries.findIndex((e) => e.path === `changes/${name}`);
      await assert.rejects(chunks(source.read(at('grows'), { signal: signal() })), { code: 'SOURCE_CHANGED' });
      await assert.rejects(chunks(source.read(at('goes'), { signal: signal() })), { code: 'SOURCE_NOT_FOUND' });
    } finally {
      await reader.stop();
    }
  });

  it('the thread ends after a quiet spell, starts again when needed, and refuses work after stop()', async () => {
    const tree = join(dir, 'idle');
    await mkdir(tree);
    await writeFile(join(tree, 'a'), 'hello');
    const reader = new SmallFileReader({ idleMs: 50 });
    const source = await scanLocalPaths([tree], { reader });
    const index = source.entries.findIndex((e) => e.path === 'idle/a');
    assert.equal(reader.running, true, 'the scan looked at the paths on the thread');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(reader.running, false, 'the idle thread ended');
    assert.equal(Buffer.concat(await chunks(source.read(index, { signal: signal() }))).toString(), 'hello');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(reader.running, false, 'it ended again');
    assert.equal(Buffer.concat(await chunks(source.read(index, { signal: signal() }))).toString(), 'hello');
    await reader.stop();
    await assert.rejects(chunks(source.read(index, { signal: signal() })), { code: 'TRANSFER_CANCELLED' });
  });

  it('the scan finds on the thread what it finds through the pool, and many reads at once come back right', async () => {
    const tree = join(dir, 'many');
    const contents = new Map<string, Buffer>();
    for (let d = 0; d < 3; d++) {
      await mkdir(join(tree, `d${d}`, 'deeper'), { recursive: true });
      // More entries in one directory than one message to the thread carries.
      for (let f = 0; f < (d === 0 ? 300 : 20); f++) {
        const rel = `d${d}/${f % 2 === 0 ? 'deeper/' : ''}f${f}`;
        contents.set(`many/${rel}`, randomBytes(f * 7));
        await writeFile(join(tree, rel), contents.get(`many/${rel}`)!);
      }
    }
    await symlink(join(tree, 'd1', 'f1'), join(tree, 'd1', 'link'));
    contents.set('many/d2/name:colon', Buffer.from('x'));
    await writeFile(join(tree, 'd2', 'name:colon'), 'x');
    const reader = new SmallFileReader();
    try {
      const viaPool = await scanLocalPaths([tree]);
      const viaThread = await scanLocalPaths([tree], { reader });
      assert.deepEqual(viaThread.entries, viaPool.entries);
      assert.deepEqual(viaThread.skipped, viaPool.skipped);
      assert.deepEqual(viaThread.renamed, viaPool.renamed);
      assert.deepEqual(
        viaThread.skipped.map((s) => s.reason),
        ['symlink'],
      );
      const files = viaThread.entries.flatMap((e, i) => (e.kind === 'file' ? [i] : []));
      assert.equal(files.length, 341);
      const read = await Promise.all(
        files.map(async (i) => [viaThread.entries[i]!.path, Buffer.concat(await chunks(viaThread.read(i, { signal: signal() })))] as const),
      );
      for (const [path, data] of read) assert.deepEqual(data, contents.get(path), path);
    } finally {
      await reader.stop();
    }
  });
});
