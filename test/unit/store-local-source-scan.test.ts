import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanLocalPaths } from '../../src/store/local-source.js';

describe('scanLocalPaths over many entries (looked at several at once)', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'p2pd-scan-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("lists a folder of 300 files in name order, each folder's entries before its subfolders'", async () => {
    const root = join(base, 'tree');
    await mkdir(join(root, 'sub', 'deeper'), { recursive: true });
    for (let i = 0; i < 300; i++) await writeFile(join(root, `f${String(i).padStart(3, '0')}`), String(i));
    for (let i = 0; i < 70; i++) await writeFile(join(root, 'sub', `g${i}`), 'g');
    await writeFile(join(root, 'sub', 'deeper', 'h'), 'h');
    await symlink('/nonexistent', join(root, 'f150-link'));
    const source = await scanLocalPaths([root]);
    const paths = source.entries.map((e) => e.path);
    const expected = ['tree'];
    const names = [...Array.from({ length: 300 }, (_, i) => `f${String(i).padStart(3, '0')}`), 'f150-link', 'sub'].sort();
    for (const n of names) if (n !== 'f150-link') expected.push(`tree/${n}`);
    expected.push(...['deeper', ...Array.from({ length: 70 }, (_, i) => `g${i}`)].sort().map((n) => `tree/sub/${n}`));
    // A folder's entries first, then its subfolders' (the walk's order, unchanged).
    expected.push('tree/sub/deeper/h');
    assert.deepEqual(paths, expected);
    assert.deepEqual(source.skipped, [{ path: join(root, 'f150-link'), reason: 'symlink' }]);
    assert.equal(source.entries.find((e) => e.path === 'tree/f007')?.size, 1);
  });
});
