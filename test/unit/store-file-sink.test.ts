/**
 * The partial file's stream: positional writes from its start offset, short writes finished, a
 * background fdatasync every so many bytes, a failed flush reported, and 'close' only once no
 * I/O is running (the owner syncs and closes the descriptor after it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { FileSink } from '../../src/store/file-sink.js';

/** A FileHandle stand-in that keeps the bytes, writes at most `maxWrite` per call and counts syncs. */
function fakeHandle(options: { maxWrite?: number; failSync?: boolean; writeDelayMs?: number } = {}) {
  const file = Buffer.alloc(1 << 16);
  const state = { syncs: 0, writes: 0, inFlight: 0, closed: false, file };
  const handle = {
    async writev(buffers: Buffer[], position: number) {
      state.writes++;
      state.inFlight++;
      await new Promise((r) => setTimeout(r, options.writeDelayMs ?? 0));
      state.inFlight--;
      let n = 0;
      for (const b of buffers) {
        const take = Math.min(b.length, (options.maxWrite ?? Infinity) - n);
        b.copy(file, position + n, 0, take);
        n += take;
        if (take < b.length) break;
      }
      return { bytesWritten: n, buffers };
    },
    async datasync() {
      state.syncs++;
      if (options.failSync === true) throw Object.assign(new Error('I/O error'), { code: 'EIO' });
    },
    async close() {
      state.closed = true;
    },
  };
  return { handle: handle as unknown as FileHandle, state };
}

function finish(sink: FileSink): Promise<void> {
  return new Promise((resolve, reject) => {
    sink.once('finish', resolve);
    sink.once('error', reject);
    sink.end();
  });
}

describe('FileSink', () => {
  it('writes from its start offset and finishes short writes', async () => {
    const { handle, state } = fakeHandle({ maxWrite: 3 });
    const sink = new FileSink(handle, { start: 10, highWaterMark: 1024 });
    sink.write(Buffer.from('hello '));
    sink.write(Buffer.from('world'));
    await finish(sink);
    assert.equal(state.file.subarray(10, 21).toString(), 'hello world');
    assert.equal(sink.bytesWritten, 11);
    assert.ok(state.writes >= 4, 'short writes were continued');
  });

  it('flushes in the background every syncEveryBytes, one flush at a time', async () => {
    const { handle, state } = fakeHandle();
    const sink = new FileSink(handle, { start: 0, highWaterMark: 1024, syncEveryBytes: 1000 });
    for (let i = 0; i < 10; i++) {
      sink.write(Buffer.alloc(500, i));
      await new Promise((r) => setImmediate(r));
    }
    await finish(sink);
    assert.ok(state.syncs >= 2 && state.syncs <= 5, `${state.syncs} flushes for 5000 bytes`);
  });

  it('a failed flush fails the stream instead of passing silently', async () => {
    const { handle } = fakeHandle({ failSync: true });
    const sink = new FileSink(handle, { start: 0, highWaterMark: 1024, syncEveryBytes: 10 });
    sink.on('error', () => undefined);
    sink.write(Buffer.alloc(20));
    await assert.rejects(finish(sink), /I\/O error/);
  });

  it("'close' waits for a write in flight and leaves the descriptor open", async () => {
    const { handle, state } = fakeHandle({ writeDelayMs: 50 });
    const sink = new FileSink(handle, { start: 0, highWaterMark: 1024 });
    sink.write(Buffer.from('abc'));
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(state.inFlight, 1);
    await new Promise<void>((resolve) => {
      sink.once('close', () => resolve());
      sink.destroy();
    });
    assert.equal(state.inFlight, 0, 'no write is running after close');
    assert.equal(state.closed, false, 'the owner closes the descriptor');
  });

  it('writes a real file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2pd-sink-'));
    try {
      const handle = await open(join(dir, 'f'), 'w');
      const sink = new FileSink(handle, { start: 0, highWaterMark: 1 << 20, syncEveryBytes: 1 << 20 });
      const chunk = Buffer.alloc(256 * 1024, 7);
      for (let i = 0; i < 12; i++) if (!sink.write(chunk)) await new Promise((r) => sink.once('drain', r));
      await finish(sink);
      await handle.sync();
      await handle.close();
      const got = await readFile(join(dir, 'f'));
      assert.equal(got.length, 12 * chunk.length);
      assert.ok(got.every((b) => b === 7));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
