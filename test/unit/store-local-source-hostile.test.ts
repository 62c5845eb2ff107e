/**
 * A tree another local user can write (issue "Hold the line", item 6) and the daemon's own files
 * (issue "Do what was asked", a send of the home directory): a file swapped for a symlink or a
 * FIFO after the scan is never read, and never blocks; p2pd's state is never sent.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, symlink, unlink, writeFile, utimes, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanLocalPaths, type ScanOptions } from '../../src/store/local-source.js';
import { SmallFileReader } from '../../src/store/small-file-reader.js';

async function drain(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of it) parts.push(b);
  return Buffer.concat(parts);
}

// Small files are read whole on a thread when the scan has a reader: the same checks hold there.
for (const [how, withReader] of [
  ['streamed', false],
  ['read whole on a thread', true],
] as const) {
  describe(`sending from a tree others can write (${how})`, () => {
    let dir: string;
    const reader = new SmallFileReader();
    const options: ScanOptions = withReader ? { reader } : {};
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'p2pd-src-'));
    });
    after(async () => {
      await reader.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('a file swapped for a symlink to a secret (same size and mtime) is SOURCE_CHANGED, the secret unread', async () => {
      const tree = join(dir, 'tree1');
      await mkdir(tree);
      await writeFile(join(tree, 'a.txt'), 'public!');
      const secret = join(dir, 'secret');
      await writeFile(secret, 'SECRET!', { mode: 0o600 });
      const t = new Date(1_700_000_000_000);
      await utimes(join(tree, 'a.txt'), t, t);
      await utimes(secret, t, t);
      const source = await scanLocalPaths([tree], options);
      const index = source.entries.findIndex((e) => e.path === 'tree1/a.txt');
      await unlink(join(tree, 'a.txt'));
      await symlink(secret, join(tree, 'a.txt'));
      await assert.rejects(drain(source.read(index, { signal: new AbortController().signal })), { code: 'SOURCE_CHANGED' });
    });

    it('a file swapped for another file of the same size and mtime is SOURCE_CHANGED (inode differs)', async () => {
      const tree = join(dir, 'tree2');
      await mkdir(tree);
      await writeFile(join(tree, 'a.txt'), 'aaaa');
      const source = await scanLocalPaths([tree], options);
      const st = await stat(join(tree, 'a.txt'));
      await writeFile(join(tree, 'b.tmp'), 'bbbb');
      await utimes(join(tree, 'b.tmp'), st.atime, st.mtime);
      execFileSync('mv', [join(tree, 'b.tmp'), join(tree, 'a.txt')]);
      const index = source.entries.findIndex((e) => e.path === 'tree2/a.txt');
      await assert.rejects(drain(source.read(index, { signal: new AbortController().signal })), { code: 'SOURCE_CHANGED' });
    });

    it('a file swapped for a FIFO fails at once instead of blocking', async () => {
      const tree = join(dir, 'tree3');
      await mkdir(tree);
      await writeFile(join(tree, 'a.txt'), '');
      const source = await scanLocalPaths([tree], options);
      await unlink(join(tree, 'a.txt'));
      execFileSync('mkfifo', [join(tree, 'a.txt')]);
      const index = source.entries.findIndex((e) => e.path === 'tree3/a.txt');
      const started = Date.now();
      await assert.rejects(drain(source.read(index, { signal: new AbortController().signal })), { code: 'SOURCE_CHANGED' });
      assert.ok(Date.now() - started < 2000);
    });
  });
}

describe('sending the daemon state', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2pd-src-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('a path that is or holds the daemon state is refused; a sibling is fine', async () => {
    const home = join(dir, 'home');
    const state = join(home, '.local', 'state', 'p2pd');
    await mkdir(state, { recursive: true });
    await writeFile(join(state, 'key.pem'), 'private');
    await mkdir(join(home, 'docs'));
    await writeFile(join(home, 'docs', 'a.txt'), 'x');
    for (const p of [home, join(home, '.local'), state, join(state, 'key.pem')]) {
      await assert.rejects(scanLocalPaths([p], { protect: [state] }), { code: 'SOURCE_UNSUPPORTED' }, p);
    }
    const ok = await scanLocalPaths([join(home, 'docs')], { protect: [state] });
    assert.equal(ok.entries.length, 2);
  });
});
