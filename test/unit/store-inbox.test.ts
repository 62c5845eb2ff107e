import { after, afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { OfferEntry } from '../../src/protocol/messages.js';
import type { PartialFile, PreparedTransfer } from '../../src/transfer/ports.js';
import { Inbox, PARTIAL_DIR_NAME, type InboxDeps } from '../../src/store/index.js';
import { rejectsWith } from '../helpers/rejects-with.js';

const sender = { id: 'a'.repeat(52), name: 'peer' };
const signal = new AbortController().signal;
const MTIME = 1_600_000_000_123;

function file(path: string, size: number, mode = 0o644, mtimeMs = MTIME): OfferEntry {
  return { path, kind: 'file', size, mode, mtimeMs };
}
function dir(path: string, mode = 0o755): OfferEntry {
  return { path, kind: 'dir', size: 0, mode, mtimeMs: MTIME };
}

async function send(partial: PartialFile, data: string | Buffer): Promise<string> {
  await pipeline(Readable.from([Buffer.from(data)]), partial.stream);
  return partial.commit({ signal });
}

/** Folder-reservation records (t-*.json) are bookkeeping for retries, not data: tests look past them. */
const RESERVATION = /^t-[0-9a-f]{40}\.json$/;

async function partials(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => !RESERVATION.test(n));
}

/** Every path under `root` (relative, "/"-separated, directories with a trailing "/"). */
async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dirPath: string, prefix: string): Promise<void> {
    for (const entry of await readdir(dirPath, { withFileTypes: true })) {
      const rel = `${prefix}${entry.name}`;
      if (RESERVATION.test(entry.name)) continue;
      if (entry.isDirectory()) {
        out.push(`${rel}/`);
        await walk(join(dirPath, entry.name), `${rel}/`);
      } else {
        out.push(entry.isSymbolicLink() ? `${rel}@` : rel);
      }
    }
  }
  await walk(root, '');
  return out.sort();
}

describe('Inbox', () => {
  let base: string;
  let inboxDir: string;
  let inbox: Inbox;
  const cleanups: string[] = [];

  async function startInbox(deps: InboxDeps = {}, options: { maxFileSize?: number } = {}): Promise<Inbox> {
    const started = new Inbox(deps, { dir: inboxDir, ...options });
    await started.start({ signal });
    return started;
  }

  async function prepare(entries: OfferEntry[], transferId = 't1', store: Inbox = inbox): Promise<PreparedTransfer> {
    return store.prepare({ transferId, entries, sender }, { signal });
  }

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'p2pd-inbox-'));
    cleanups.push(base);
    inboxDir = join(base, 'inbox');
    inbox = await startInbox();
  });

  afterEach(async () => {
    await inbox.stop();
  });

  after(async () => {
    await Promise.all(cleanups.map((path) => rm(path, { recursive: true, force: true })));
  });

  it('start() creates the inbox and a private partial directory', async () => {
    assert.equal((await stat(inboxDir)).mode & 0o777, 0o700);
    const partial = await lstat(join(inboxDir, PARTIAL_DIR_NAME));
    assert.ok(partial.isDirectory());
    assert.equal(partial.mode & 0o777, 0o700);
    assert.deepEqual(await tree(inboxDir), [`${PARTIAL_DIR_NAME}/`]);
  });

  it('commits a nested tree with its structure, modes and mtimes', async () => {
    const entries = [
      dir('photos', 0o750),
      dir('photos/2024', 0o755),
      file('photos/2024/a.jpg', 5, 0o640),
      file('photos/b.txt', 3, 0o600, 1_500_000_000_000),
      file('docs/deep/c.txt', 1),
      dir('photos/empty', 0o711),
      file('readme.md', 6, 0o644),
    ];
    const transfer = await prepare(entries);
    const results: string[] = [];
    results.push(await send(await transfer.openFile(2, { signal }), 'hello'));
    results.push(await send(await transfer.openFile(3, { signal }), 'abc'));
    results.push(await send(await transfer.openFile(4, { signal }), 'z'));
    results.push(await send(await transfer.openFile(6, { signal }), '# read'));
    await transfer.close();

    assert.deepEqual(results, ['photos/2024/a.jpg', 'photos/b.txt', 'docs/deep/c.txt', 'readme.md']);
    assert.deepEqual(await tree(inboxDir), [
      `${PARTIAL_DIR_NAME}/`,
      'docs/',
      'docs/deep/',
      'docs/deep/c.txt',
      'photos/',
      'photos/2024/',
      'photos/2024/a.jpg',
      'photos/b.txt',
      'photos/empty/',
      'readme.md',
    ]);
    assert.equal(await readFile(join(inboxDir, 'photos/2024/a.jpg'), 'utf8'), 'hello');
    const a = await stat(join(inboxDir, 'photos/2024/a.jpg'));
    assert.equal(a.mode & 0o7777, 0o640);
    assert.ok(Math.abs(a.mtimeMs - MTIME) < 1, `mtime ${a.mtimeMs}`);
    const b = await stat(join(inboxDir, 'photos/b.txt'));
    assert.equal(b.mode & 0o7777, 0o600);
    assert.ok(Math.abs(b.mtimeMs - 1_500_000_000_000) < 1);
    assert.equal((await stat(join(inboxDir, 'photos'))).mode & 0o777, 0o750);
    assert.equal((await stat(join(inboxDir, 'photos/empty'))).mode & 0o777, 0o711);
    assert.deepEqual(await partials(join(inboxDir, PARTIAL_DIR_NAME)), []);
  });

  it('commits a 0-byte file', async () => {
    const transfer = await prepare([file('empty.bin', 0)]);
    const partial = await transfer.openFile(0, { signal });
    partial.stream.end();
    assert.equal(await partial.commit({ signal }), 'empty.bin');
    assert.equal((await stat(join(inboxDir, 'empty.bin'))).size, 0);
    await transfer.close();
  });

  it('commits data written straight to the stream, without pipeline', async () => {
    const transfer = await prepare([file('big.bin', 3 * 1024 * 1024)]);
    const partial = await transfer.openFile(0, { signal });
    const chunk = Buffer.alloc(1024 * 1024, 7);
    for (let i = 0; i < 3; i++) {
      if (!partial.stream.write(chunk)) await new Promise((resolve) => partial.stream.once('drain', resolve));
    }
    assert.equal(await partial.commit({ signal }), 'big.bin');
    assert.equal((await stat(join(inboxDir, 'big.bin'))).size, 3 * 1024 * 1024);
    await transfer.close();
  });

  it('never overwrites: a taken file name becomes "name (1).ext", then "(2)"', async () => {
    await writeFile(join(inboxDir, 'photo.jpg'), 'original');
    await writeFile(join(inboxDir, 'archive.tar.gz'), 'original');
    const first = await prepare([file('photo.jpg', 3), file('archive.tar.gz', 3)], 't1');
    assert.equal(await send(await first.openFile(0, { signal }), 'new'), 'photo (1).jpg');
    assert.equal(await send(await first.openFile(1, { signal }), 'new'), 'archive (1).tar.gz');
    await first.close();
    const second = await prepare([file('photo.jpg', 4)], 't2');
    assert.equal(await send(await second.openFile(0, { signal }), 'next'), 'photo (2).jpg');
    await second.close();
    assert.equal(await readFile(join(inboxDir, 'photo.jpg'), 'utf8'), 'original');
    assert.equal(await readFile(join(inboxDir, 'photo (1).jpg'), 'utf8'), 'new');
    assert.equal(await readFile(join(inboxDir, 'archive.tar.gz'), 'utf8'), 'original');
  });

  it('lands a directory tree whose name is taken in "photos (1)/"', async () => {
    await mkdir(join(inboxDir, 'photos'));
    await writeFile(join(inboxDir, 'photos', 'x.txt'), 'mine');
    const transfer = await prepare([file('photos/x.txt', 6)]);
    assert.equal(await send(await transfer.openFile(0, { signal }), 'theirs'), 'photos (1)/x.txt');
    await transfer.close();
    assert.equal(await readFile(join(inboxDir, 'photos/x.txt'), 'utf8'), 'mine');
    assert.equal(await readFile(join(inboxDir, 'photos (1)/x.txt'), 'utf8'), 'theirs');
  });

  it('a top-level directory also avoids a file of the same name', async () => {
    await writeFile(join(inboxDir, 'notes'), 'a file');
    const transfer = await prepare([dir('notes'), file('notes/a.txt', 1)]);
    assert.equal(await send(await transfer.openFile(1, { signal }), 'a'), 'notes (1)/a.txt');
    await transfer.close();
  });

  it('hostile: strips setuid, setgid and sticky bits and keeps owner read/write', async () => {
    const transfer = await prepare([file('suid', 1, 0o4755), file('sgid', 1, 0o2777), file('none', 1, 0o000), dir('sticky', 0o1777), dir('locked', 0o000)]);
    for (const index of [0, 1, 2]) await send(await transfer.openFile(index, { signal }), 'x');
    await transfer.close();
    assert.equal((await stat(join(inboxDir, 'suid'))).mode & 0o7777, 0o755);
    assert.equal((await stat(join(inboxDir, 'sgid'))).mode & 0o7777, 0o755, 'no group or world write from a peer');
    assert.equal((await stat(join(inboxDir, 'none'))).mode & 0o7777, 0o600);
    assert.equal((await stat(join(inboxDir, 'sticky'))).mode & 0o7777, 0o755);
    assert.equal((await stat(join(inboxDir, 'locked'))).mode & 0o7777, 0o700);
  });

  it('hostile: a symlink planted at a directory position is refused, never followed', async () => {
    const outside = join(base, 'outside');
    await mkdir(outside);
    const transfer = await prepare([file('photos/sub/x.txt', 4)]);
    await symlink(outside, join(inboxDir, 'photos', 'sub'));
    const partial = await transfer.openFile(0, { signal });
    await pipeline(Readable.from([Buffer.from('evil')]), partial.stream);
    await rejectsWith(partial.commit({ signal }), 'NAME_INVALID', 'symlink-in-path');
    await partial.discard();
    await transfer.close();
    assert.deepEqual(await readdir(outside), []);
    assert.deepEqual(await partials(join(inboxDir, PARTIAL_DIR_NAME)), []);
  });

  it('hostile: a reserved top-level directory swapped for a symlink is refused', async () => {
    const outside = join(base, 'outside');
    await mkdir(outside);
    const transfer = await prepare([file('photos/x.txt', 4)]);
    await rm(join(inboxDir, 'photos'), { recursive: true });
    await symlink(outside, join(inboxDir, 'photos'));
    const partial = await transfer.openFile(0, { signal });
    await rejectsWith(send(partial, 'evil'), 'NAME_INVALID', 'symlink-in-path');
    await transfer.close();
    assert.deepEqual(await readdir(outside), []);
    assert.ok((await lstat(join(inboxDir, 'photos'))).isSymbolicLink());
  });

  it('hostile: a symlink planted under the final name is left alone, the file gets another name', async () => {
    const target = join(base, 'target.txt');
    await writeFile(target, 'precious');
    const transfer = await prepare([file('photos/x.txt', 4)]);
    await symlink(target, join(inboxDir, 'photos', 'x.txt'));
    assert.equal(await send(await transfer.openFile(0, { signal }), 'evil'), 'photos/x (1).txt');
    await transfer.close();
    assert.equal(await readFile(target, 'utf8'), 'precious');
    assert.ok((await lstat(join(inboxDir, 'photos', 'x.txt'))).isSymbolicLink());
  });

  it('hostile: a file planted at a directory position is refused', async () => {
    const transfer = await prepare([file('photos/sub/x.txt', 1)]);
    await writeFile(join(inboxDir, 'photos', 'sub'), 'in the way');
    await rejectsWith(send(await transfer.openFile(0, { signal }), 'x'), 'NAME_INVALID', 'not-a-directory');
    await transfer.close();
  });

  it('writes nothing under a final name before commit', async () => {
    const transfer = await prepare([file('a.txt', 4), file('d/b.txt', 4)]);
    const a = await transfer.openFile(0, { signal });
    const b = await transfer.openFile(1, { signal });
    a.stream.write('data');
    b.stream.write('data');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(await tree(inboxDir), [`${PARTIAL_DIR_NAME}/`, `${PARTIAL_DIR_NAME}/t1.0.part`, `${PARTIAL_DIR_NAME}/t1.1.part`, 'd/']);
    assert.equal((await stat(join(inboxDir, PARTIAL_DIR_NAME, 't1.0.part'))).mode & 0o777, 0o600);
    await transfer.close();
  });

  it('discard and close leave nothing behind', async () => {
    const transfer = await prepare([dir('tree'), dir('tree/sub'), file('tree/sub/a.txt', 4), file('tree/b.txt', 4), file('top.txt', 4)]);
    const a = await transfer.openFile(2, { signal });
    a.stream.write('da');
    await a.discard();
    await a.discard();
    const b = await transfer.openFile(3, { signal });
    b.stream.write('partial');
    const top = await transfer.openFile(4, { signal });
    await pipeline(Readable.from([Buffer.from('data')]), top.stream);
    await transfer.close();
    await transfer.close();
    assert.deepEqual(await tree(inboxDir), [`${PARTIAL_DIR_NAME}/`]);
  });

  it('an offer closed before any file arrived (refused, cancelled) leaves nothing', async () => {
    const transfer = await prepare([dir('a'), dir('a/b'), file('a/b/c.txt', 1), file('d/e.txt', 1), file('top', 1)]);
    assert.deepEqual(await tree(inboxDir), [`${PARTIAL_DIR_NAME}/`, 'a/', 'a/b/', 'd/']);
    await transfer.close();
    assert.deepEqual(await tree(inboxDir), [`${PARTIAL_DIR_NAME}/`]);
  });

  it('close keeps committed files and removes only the empty directories it made', async () => {
    const transfer = await prepare([file('tree/a/one.txt', 1), file('tree/b/two.txt', 1), dir('tree/c')]);
    await send(await transfer.openFile(0, { signal }), '1');
    const two = await transfer.openFile(1, { signal });
    two.stream.write('2');
    await transfer.close();
    assert.deepEqual(await tree(inboxDir), [`${PARTIAL_DIR_NAME}/`, 'tree/', 'tree/a/', 'tree/a/one.txt']);
  });

  it('a discarded file can be opened again', async () => {
    const transfer = await prepare([file('a.txt', 2)]);
    const first = await transfer.openFile(0, { signal });
    first.stream.write('xx');
    await first.discard();
    assert.equal(await send(await transfer.openFile(0, { signal }), 'ok'), 'a.txt');
    await transfer.close();
  });

  it('start() removes partial files left by an earlier run', async () => {
    await inbox.stop();
    const partialDir = join(inboxDir, PARTIAL_DIR_NAME);
    await writeFile(join(partialDir, 'old.0.part'), 'stale');
    await mkdir(join(partialDir, 'strange-dir'));
    await writeFile(join(partialDir, 'strange-dir', 'x'), 'stale');
    inbox = await startInbox();
    assert.deepEqual(await readdir(partialDir), []);
  });

  it('start() refuses an inbox it cannot create, with INBOX_UNWRITABLE', async () => {
    await writeFile(join(base, 'a-file'), '');
    const broken = new Inbox({}, { dir: join(base, 'a-file', 'inbox') });
    await rejectsWith(broken.start({ signal }), 'INBOX_UNWRITABLE');
  });

  it('hostile: start() refuses a partial directory that is a symlink', async () => {
    await inbox.stop();
    const elsewhere = join(base, 'elsewhere');
    await mkdir(elsewhere);
    await rm(join(inboxDir, PARTIAL_DIR_NAME), { recursive: true });
    await symlink(elsewhere, join(inboxDir, PARTIAL_DIR_NAME));
    const broken = new Inbox({}, { dir: inboxDir });
    await rejectsWith(broken.start({ signal }), 'INBOX_UNWRITABLE');
    inbox = broken;
  });

  it('stop() removes the partial files of running transfers', async () => {
    const transfer = await prepare([file('a.txt', 4)]);
    const partial = await transfer.openFile(0, { signal });
    partial.stream.write('da');
    await inbox.stop();
    assert.deepEqual(await tree(inboxDir), [`${PARTIAL_DIR_NAME}/`]);
  });

  it('hostile: refuses duplicate paths, also after NFC normalisation', async () => {
    await rejectsWith(prepare([file('a.txt', 1), file('a.txt', 1)]), 'OFFER_INVALID', 'duplicate-path');
    await rejectsWith(prepare([file('Caf\u00E9.txt', 1), file('Cafe\u0301.txt', 1)]), 'OFFER_INVALID', 'duplicate-path');
    await rejectsWith(prepare([dir('a'), file('a', 1)]), 'OFFER_INVALID', 'duplicate-path');
    await rejectsWith(prepare([dir('d'), dir('d')]), 'OFFER_INVALID', 'duplicate-path');
    assert.deepEqual(await tree(inboxDir), [`${PARTIAL_DIR_NAME}/`]);
  });

  it('keeps names that differ only in case apart', async () => {
    const transfer = await prepare([file('A.txt', 1), file('a.txt', 1)]);
    const first = await send(await transfer.openFile(0, { signal }), 'A');
    const second = await send(await transfer.openFile(1, { signal }), 'a');
    assert.equal(first, 'A.txt');
    assert.ok(second === 'a.txt' || second === 'a (1).txt', second);
    await transfer.close();
  });

  it('hostile: refuses inconsistent offers before touching the disk', async () => {
    await rejectsWith(prepare([file('a', 1), file('a/b', 1)]), 'OFFER_INVALID', 'file-as-directory');
    await rejectsWith(prepare([file('x/a/b/c', 1), file('x/a', 1)]), 'OFFER_INVALID', 'file-as-directory');
    await rejectsWith(prepare([{ ...dir('d'), size: 10 }]), 'OFFER_INVALID', 'dir-size');
    await rejectsWith(prepare([file('a', -1)]), 'OFFER_INVALID', 'bad-size');
    await rejectsWith(prepare([file('a', 1.5)]), 'OFFER_INVALID', 'bad-size');
    await rejectsWith(prepare([{ ...file('a', 1), kind: 'link' as 'file' }]), 'OFFER_INVALID', 'bad-kind');
    await rejectsWith(prepare([file('a', 1, Number.NaN)]), 'OFFER_INVALID', 'bad-mode');
    await rejectsWith(prepare([file('a', 1, 0o644, Number.POSITIVE_INFINITY)]), 'OFFER_INVALID', 'bad-mtime');
    await rejectsWith(prepare([file('a', 1)], '../../etc'), 'OFFER_INVALID', 'bad-transfer-id');
    // A name that cannot be made safe sinks the offer only when nothing else would land.
    await rejectsWith(prepare([file('../escape', 1)]), 'NAME_INVALID', 'dot-component');
    await rejectsWith(prepare([dir('d'), file('d/../../escape', 1)]), 'NAME_INVALID', 'dot-component');
    assert.deepEqual(await tree(inboxDir), [`${PARTIAL_DIR_NAME}/`]);
  });

  it('refuses a file over maxFileSize with OFFER_TOO_LARGE', async () => {
    const limited = new Inbox({}, { dir: inboxDir, maxFileSize: 100 });
    await limited.start({ signal });
    await rejectsWith(prepare([file('small', 100), file('big', 101)], 't1', limited), 'OFFER_TOO_LARGE');
    const ok = await prepare([file('small', 100)], 't2', limited);
    await ok.close();
    await limited.stop();
  });

  it('refuses a transfer id that is already running', async () => {
    const transfer = await prepare([file('a', 1)], 'same');
    await rejectsWith(prepare([file('b', 1)], 'same'), 'OFFER_INVALID', 'transfer-id-in-use');
    await transfer.close();
    const again = await prepare([file('b', 1)], 'same');
    await again.close();
  });

  it('openFile refuses an index that is not a file entry, or one already open', async () => {
    const transfer = await prepare([dir('d'), file('d/a', 1)]);
    await rejectsWith(transfer.openFile(0, { signal }), 'OFFER_INVALID', 'not-a-file-entry');
    await rejectsWith(transfer.openFile(2, { signal }), 'OFFER_INVALID', 'not-a-file-entry');
    await rejectsWith(transfer.openFile(-1, { signal }), 'OFFER_INVALID', 'not-a-file-entry');
    const partial = await transfer.openFile(1, { signal });
    await rejectsWith(transfer.openFile(1, { signal }), 'OFFER_INVALID', 'file-already-open');
    await send(partial, 'a');
    await rejectsWith(transfer.openFile(1, { signal }), 'OFFER_INVALID', 'file-already-open');
    await transfer.close();
  });

  it('refuses to commit data of the wrong size with SIZE_MISMATCH', async () => {
    const transfer = await prepare([file('short.bin', 10), file('long.bin', 2)]);
    await rejectsWith(send(await transfer.openFile(0, { signal }), 'five!'), 'SIZE_MISMATCH');
    await rejectsWith(send(await transfer.openFile(1, { signal }), 'three'), 'SIZE_MISMATCH');
    await transfer.close();
    assert.deepEqual(await tree(inboxDir), [`${PARTIAL_DIR_NAME}/`]);
  });

  it('two concurrent prepares of the same directory get different roots', async () => {
    const [one, two] = await Promise.all([prepare([file('photos/x.txt', 3)], 'one'), prepare([file('photos/x.txt', 3)], 'two')]);
    const paths = await Promise.all([send(await one.openFile(0, { signal }), 'one'), send(await two.openFile(0, { signal }), 'two')]);
    assert.deepEqual([...paths].sort(), ['photos (1)/x.txt', 'photos/x.txt']);
    assert.equal(await readFile(join(inboxDir, paths[0]), 'utf8'), 'one');
    assert.equal(await readFile(join(inboxDir, paths[1]), 'utf8'), 'two');
    await Promise.all([one.close(), two.close()]);
  });

  it('concurrent commits of the same top-level name never overwrite each other', async () => {
    const transfers = await Promise.all(['c1', 'c2', 'c3', 'c4'].map((id) => prepare([file('same.txt', 2)], id)));
    const paths = await Promise.all(transfers.map(async (t, i) => send(await t.openFile(0, { signal }), `${i}${i}`)));
    assert.deepEqual([...paths].sort(), ['same (1).txt', 'same (2).txt', 'same (3).txt', 'same.txt']);
    for (const [i, path] of paths.entries()) assert.equal(await readFile(join(inboxDir, path), 'utf8'), `${i}${i}`);
    await Promise.all(transfers.map((t) => t.close()));
  });

  it('moves by exclusive create and rename where the file system has no hard links', async () => {
    await inbox.stop();
    const noLinks: InboxDeps['link'] = async () => {
      throw Object.assign(new Error('operation not permitted'), { code: 'EPERM' });
    };
    inbox = await startInbox({ link: noLinks });
    await writeFile(join(inboxDir, 'a.txt'), 'original');
    const transfer = await prepare([file('a.txt', 3), file('d/b.txt', 3)]);
    assert.equal(await send(await transfer.openFile(0, { signal }), 'new'), 'a (1).txt');
    assert.equal(await send(await transfer.openFile(1, { signal }), 'bbb'), 'd/b.txt');
    await transfer.close();
    assert.equal(await readFile(join(inboxDir, 'a.txt'), 'utf8'), 'original');
    assert.equal(await readFile(join(inboxDir, 'a (1).txt'), 'utf8'), 'new');
    assert.deepEqual(await partials(join(inboxDir, PARTIAL_DIR_NAME)), []);
  });

  it('honours an aborted signal', async () => {
    const aborted = AbortSignal.abort();
    await assert.rejects(inbox.prepare({ transferId: 't1', entries: [file('a', 1)], sender }, { signal: aborted }));
    const transfer = await prepare([file('a', 1)]);
    await assert.rejects(transfer.openFile(0, { signal: aborted }));
    const partial = await transfer.openFile(0, { signal });
    partial.stream.end('a');
    await assert.rejects(partial.commit({ signal: aborted }));
    await transfer.close();
    assert.deepEqual(await tree(inboxDir), [`${PARTIAL_DIR_NAME}/`]);
  });

  it('prepare() before start() is a bug, reported as INTERNAL', async () => {
    const notStarted = new Inbox({}, { dir: join(base, 'other') });
    await rejectsWith(notStarted.prepare({ transferId: 't', entries: [], sender }, { signal }), 'INTERNAL');
  });
});
