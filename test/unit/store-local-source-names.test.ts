/**
 * The sender decides its own names and readability before offering anything (issue "Do what was
 * asked", offers that can never land): names go through the receivers' rule (cleaned, or skipped
 * with why), and a file the daemon may not read is SOURCE_UNREADABLE at scan time.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanLocalPaths } from '../../src/store/local-source.js';

const LOCAL_SOURCE = fileURLToPath(new URL('../../src/store/local-source.js', import.meta.url));
const SMALL_FILE_READER = fileURLToPath(new URL('../../src/store/small-file-reader.js', import.meta.url));

describe('scanLocalPaths: names and readability decided before offering', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2pd-src-names-'));
    await chmod(dir, 0o755);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('a name with an escape sequence is offered under its cleaned name, and reported', async () => {
    const tree = join(dir, 'tree1');
    await mkdir(tree);
    await writeFile(join(tree, 'good.txt'), 'g');
    await writeFile(join(tree, 'evil\u001b[31mred.txt'), 'e');
    await writeFile(join(tree, 'CON.txt'), 'c');
    const top = join(dir, 'top\u0007.txt');
    await writeFile(top, 't');
    const source = await scanLocalPaths([tree, top]);
    assert.deepEqual(
      source.entries.map((e) => e.path),
      ['tree1', 'tree1/CON_.txt', 'tree1/evil\uFFFD[31mred.txt', 'tree1/good.txt', 'top\uFFFD.txt'],
    );
    assert.deepEqual(
      source.renamed.map((r) => r.as),
      ['tree1/CON_.txt', 'tree1/evil\uFFFD[31mred.txt', 'top\uFFFD.txt'],
    );
    assert.deepEqual(source.skipped, []);
  });

  it('a name no receiver would take is skipped with why; two names that clean alike send one', async () => {
    const tree = join(dir, 'tree2');
    await mkdir(join(tree, 'back\\slash'), { recursive: true });
    await writeFile(join(tree, 'back\\slash', 'inside.txt'), 'i');
    await writeFile(join(tree, 'a\u0001'), '1');
    await writeFile(join(tree, 'a\u0002'), '2');
    await writeFile(join(tree, 'ok.txt'), 'o');
    const source = await scanLocalPaths([tree]);
    assert.deepEqual(
      source.entries.map((e) => e.path),
      ['tree2', 'tree2/a\uFFFD', 'tree2/ok.txt'],
    );
    assert.deepEqual(
      source.skipped.map((s) => [s.path, s.reason]),
      [
        [join(tree, 'a\u0002'), 'name-clash'],
        [join(tree, 'back\\slash'), 'unsafe-name'],
      ],
    );
    assert.match(source.skipped[1]!.message ?? '', /backslash/);
  });

  it('a path named by the user whose name cannot be sent is NAME_INVALID, naming it', async () => {
    const bad = join(dir, 'x\\y.txt');
    await writeFile(bad, 'b');
    await assert.rejects(scanLocalPaths([bad]), (err: Error & { code?: string; details?: Record<string, unknown> }) => {
      assert.equal(err.code, 'NAME_INVALID');
      assert.equal(err.details?.['path'], bad);
      assert.equal(err.details?.['reason'], 'backslash');
      return true;
    });
  });

  it('an unreadable file, or one inside a folder, is SOURCE_UNREADABLE before anything is offered, also when the reading thread looks', async () => {
    const tree = join(dir, 'tree3');
    await mkdir(tree);
    await writeFile(join(tree, 'readable.txt'), 'r', { mode: 0o644 });
    await writeFile(join(tree, 'secret.txt'), 's', { mode: 0o600 });
    await chmod(tree, 0o755);
    // Root reads everything: the scan runs as "nobody" in a child process when the tests run as root.
    const script = `
      const { scanLocalPaths } = await import(${JSON.stringify(LOCAL_SOURCE)});
      const { SmallFileReader } = await import(${JSON.stringify(SMALL_FILE_READER)});
      if (process.getuid() === 0) { process.setgid(65534); process.setuid(65534); }
      const reader = new SmallFileReader();
      const out = [];
      for (const [paths, options] of [[[${JSON.stringify(join(tree, 'secret.txt'))}], {}], [[${JSON.stringify(tree)}], {}], [[${JSON.stringify(join(tree, 'readable.txt'))}], {}], [[${JSON.stringify(tree)}], { reader }]]) {
        try { const s = await scanLocalPaths(paths, options); out.push('ok:' + s.entries.length); }
        catch (err) { out.push(err.code + ':' + (err.details?.path ?? '')); }
      }
      await reader.stop();
      console.log(JSON.stringify(out));
    `;
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', script], (err, out, errOut) => (err ? reject(new Error(errOut)) : resolve(out))),
    );
    const refused = `SOURCE_UNREADABLE:${join(tree, 'secret.txt')}`;
    assert.deepEqual(JSON.parse(stdout), [refused, refused, 'ok:1', refused]);
  });
});
