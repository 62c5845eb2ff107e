import { after, afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { P2pdError } from '../../src/errors.js';
import { BLOCK_SIZE, type OfferEntry } from '../../src/protocol/messages.js';
import type { PreparedTransfer } from '../../src/transfer/ports.js';
import { Inbox, PARTIAL_DIR_NAME } from '../../src/store/index.js';
import { rejectsWith } from '../helpers/rejects-with.js';

const sender = { id: 'a'.repeat(52), name: 'peer' };
const signal = new AbortController().signal;
const MTIME = 1_600_000_000_123;
const RESERVATION = /^t-[0-9a-f]{40}\.json$/;

function file(path: string, size: number, mode = 0o644): OfferEntry {
  return { path, kind: 'file', size, mode, mtimeMs: MTIME };
}

describe('Inbox: small files saved whole (saveSmallFile)', () => {
  let base: string;
  let inboxDir: string;
  let inbox: Inbox;
  const cleanups: string[] = [];
  const partials = async (): Promise<string[]> => (await readdir(join(inboxDir, PARTIAL_DIR_NAME))).filter((n) => !RESERVATION.test(n));

  async function prepare(
    entries: OfferEntry[],
    transferId = 't1',
  ): Promise<PreparedTransfer & { saveSmallFile: NonNullable<PreparedTransfer['saveSmallFile']> }> {
    const prepared = await inbox.prepare({ transferId, entries, sender }, { signal });
    assert.ok(prepared.saveSmallFile !== undefined);
    return prepared as PreparedTransfer & { saveSmallFile: NonNullable<PreparedTransfer['saveSmallFile']> };
  }

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'p2pd-small-'));
    cleanups.push(base);
    inboxDir = join(base, 'inbox');
    inbox = new Inbox({}, { dir: inboxDir });
    await inbox.start({ signal });
  });
  afterEach(async () => {
    await inbox.stop();
  });
  after(async () => {
    await Promise.all(cleanups.map((path) => rm(path, { recursive: true, force: true })));
  });

  it('places many at once in nested folders with their mode and mtime, and leaves no partial', async () => {
    const entries: OfferEntry[] = [];
    for (let i = 0; i < 60; i++) entries.push(file(`tree/d${i % 6}/f${i}.bin`, i === 0 ? 0 : 4096, i % 2 === 0 ? 0o755 : 0o4644));
    const transfer = await prepare(entries);
    const saved = await Promise.all(entries.map((e, i) => transfer.saveSmallFile(i, Buffer.alloc(e.size, i), { signal })));
    assert.deepEqual(
      saved,
      entries.map((e) => e.path),
    );
    for (const [i, e] of entries.entries()) {
      const info = await stat(join(inboxDir, e.path));
      assert.equal(info.size, e.size);
      assert.equal(info.mode & 0o7777, i % 2 === 0 ? 0o755 : 0o644, 'no setuid, owner read/write kept');
      assert.equal(Math.round(info.mtimeMs), MTIME);
      assert.equal(info.nlink, 1);
      if (e.size > 0) assert.deepEqual(await readFile(join(inboxDir, e.path)), Buffer.alloc(e.size, i));
    }
    await transfer.close();
    assert.deepEqual(await partials(), []);
  });

  it('a strict umask does not take bits from the mode the sender gave', async () => {
    const transfer = await prepare([file('x.sh', 2, 0o755), file('y.txt', 2, 0o644)]);
    const old = process.umask(0o077);
    try {
      await Promise.all([transfer.saveSmallFile(0, Buffer.from('xx'), { signal }), transfer.saveSmallFile(1, Buffer.from('yy'), { signal })]);
    } finally {
      process.umask(old);
    }
    await transfer.close();
    assert.equal((await stat(join(inboxDir, 'x.sh'))).mode & 0o7777, 0o755);
    assert.equal((await stat(join(inboxDir, 'y.txt'))).mode & 0o7777, 0o644);
  });

  it('never overwrites: a taken name becomes "name (1)"; a planted symlink is left alone', async () => {
    await writeFile(join(inboxDir, 'a.txt'), 'original');
    await symlink('/etc/passwd', join(inboxDir, 'b.txt'));
    const transfer = await prepare([file('a.txt', 3), file('b.txt', 3)]);
    assert.equal(await transfer.saveSmallFile(0, Buffer.from('new'), { signal }), 'a (1).txt');
    assert.equal(await transfer.saveSmallFile(1, Buffer.from('bbb'), { signal }), 'b (1).txt');
    await transfer.close();
    assert.equal(await readFile(join(inboxDir, 'a.txt'), 'utf8'), 'original');
    assert.ok((await lstat(join(inboxDir, 'b.txt'))).isSymbolicLink());
  });

  it('data of the wrong size is SIZE_MISMATCH and leaves nothing, and the others still land', async () => {
    const transfer = await prepare([file('ok1', 2), file('bad', 10), file('ok2', 2)]);
    const results = await Promise.allSettled([
      transfer.saveSmallFile(0, Buffer.from('11'), { signal }),
      transfer.saveSmallFile(1, Buffer.from('short'), { signal }),
      transfer.saveSmallFile(2, Buffer.from('22'), { signal }),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.equal(results[2].status, 'fulfilled');
    await rejectsWith(Promise.reject((results[1] as PromiseRejectedResult).reason), 'SIZE_MISMATCH');
    await transfer.close();
    assert.deepEqual(await partials(), []);
    await assert.rejects(lstat(join(inboxDir, 'bad')));
  });

  it('refuses an index that is not a file, one already saved, and data over one block', async () => {
    const transfer = await prepare([file('a', 1), file('big', BLOCK_SIZE + 1)]);
    await rejectsWith(transfer.saveSmallFile(5, Buffer.from('x'), { signal }), 'OFFER_INVALID', 'not-a-file-entry');
    const first = transfer.saveSmallFile(0, Buffer.from('x'), { signal });
    await rejectsWith(transfer.saveSmallFile(0, Buffer.from('x'), { signal }), 'OFFER_INVALID', 'file-already-open');
    await first;
    await rejectsWith(transfer.saveSmallFile(0, Buffer.from('x'), { signal }), 'OFFER_INVALID', 'file-already-open');
    await rejectsWith(transfer.openFile(0, { signal }), 'OFFER_INVALID', 'file-already-open');
    await rejectsWith(transfer.saveSmallFile(1, Buffer.alloc(BLOCK_SIZE + 1), { signal }), 'INTERNAL');
    await transfer.close();
  });

  it('an aborted signal writes nothing under a final name and leaves no partial', async () => {
    const transfer = await prepare([file('a', 1), file('b', 1)]);
    await assert.rejects(transfer.saveSmallFile(0, Buffer.from('a'), { signal: AbortSignal.abort() }));
    const controller = new AbortController();
    const saving = transfer.saveSmallFile(1, Buffer.from('b'), { signal: controller.signal });
    controller.abort(new P2pdError('TRANSFER_CANCELLED', 'stop'));
    // Aborted mid-way: either it was already placed (then it stays, whole) or nothing of it is left.
    const outcome = await saving.then(
      () => 'placed',
      () => 'refused',
    );
    await transfer.close();
    assert.deepEqual(await partials(), []);
    if (outcome === 'placed') assert.equal(await readFile(join(inboxDir, 'b'), 'utf8'), 'b');
    else await assert.rejects(lstat(join(inboxDir, 'b')));
    await assert.rejects(lstat(join(inboxDir, 'a')));
  });

  it('close() waits for small files being saved', async () => {
    const transfer = await prepare([file('d/a', 4), file('d/b', 4)]);
    const saving = [transfer.saveSmallFile(0, Buffer.from('aaaa'), { signal }), transfer.saveSmallFile(1, Buffer.from('bbbb'), { signal })];
    await transfer.close();
    // The folder was not taken back under them: the files were placed before close() returned.
    assert.deepEqual(await Promise.all(saving), ['d/a', 'd/b']);
    assert.equal(await readFile(join(inboxDir, 'd/b'), 'utf8'), 'bbbb');
  });
});
