/**
 * Another user on the same machine against a real daemon: a symlink planted at a per-peer folder
 * before the first receive, an inbox others can write, and state directories made by hand. The
 * inbox's partial files against planted links and swaps are covered in
 * test/unit/store-inbox-hostile.test.ts, where the races can be staged exactly.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, TestDaemon } from '../helpers/daemons.js';

const tag = randomBytes(2).toString('hex');
const A = `amos-${tag}`;
const B = `bea-${tag}`;

describe('hostile: a local user against the inbox and state directory', { timeout: 120_000 }, () => {
  let amos: TestDaemon;
  let bea: TestDaemon;
  let elsewhere: string;

  before(async () => {
    amos = await TestDaemon.create({ name: A });
    bea = await TestDaemon.create({ name: B, accept: 'all', extra: { inboxPerPeer: true } });
    elsewhere = await mkdtemp(join(tmpdir(), 'p2pd-elsewhere-'));
    // Planted before bea ever received from amos: <inbox>/<amos> leads out of the inbox.
    await mkdir(bea.inbox, { mode: 0o700 });
    await symlink(elsewhere, join(bea.inbox, A));
    await Promise.all([amos.start(), bea.start()]);
    await amos.waitForPeer(B);
  });

  after(async () => {
    await Promise.all([amos?.destroy(), bea?.destroy()]);
    if (elsewhere) await rm(elsewhere, { recursive: true, force: true });
  });

  it("inboxPerPeer: a symlink at the sender's folder is refused; nothing lands in its target", async () => {
    const f = join(amos.dir, 'for-bea.txt');
    await writeFile(f, 'only into the inbox');
    const r = await amos.cli(['send', B, f, '--json']);
    assert.notEqual(r.code, 0, r.stdout);
    assert.equal((JSON.parse(r.stdout) as { transfer: { error: { code: string } } }).transfer.error.code, 'INBOX_UNWRITABLE');
    assert.deepEqual(await readdir(elsewhere), [], 'neither the file nor .p2pd-partial in the link target');
    assert.equal((await bea.cli(['status'])).code, 0, 'the receiver is still up');
    // Once the link is gone the folder is made (ours, private) and the file lands in it.
    await rm(join(bea.inbox, A));
    const again = await amos.cli(['send', B, f]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await readFile(join(bea.inbox, A, 'for-bea.txt'), 'utf8'), 'only into the inbox');
  });

  async function daemonIn(setup: (dir: string) => Promise<void>): Promise<{ code: number | null; out: string; dir: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'p2pd-local-'));
    const cfg = join(dir, 'config.json');
    await writeFile(cfg, JSON.stringify({ name: `c-${tag}`, stateDir: join(dir, 'state'), inbox: join(dir, 'in'), interfaces: ['lo'], port: 0 }));
    await setup(dir);
    const r = await cli(['daemon', '--config', cfg], { timeoutMs: 8_000 });
    return { code: r.code, out: r.stdout + r.stderr, dir };
  }

  it('a state directory made by hand (mode 0755, ours) is accepted', async () => {
    const d = await TestDaemon.create({ name: `h-${tag}` });
    try {
      await chmod(join(d.dir, 'state'), 0o755);
      await d.start();
      assert.equal((await d.cli(['status'])).code, 0);
    } finally {
      await d.destroy();
    }
  });

  it('a state directory others can write stops the daemon (77) before anything is written in it', async () => {
    const { code, out, dir } = await daemonIn(async (d) => {
      await mkdir(join(d, 'state'));
      await chmod(join(d, 'state'), 0o777);
    });
    try {
      assert.equal(code, 77, out);
      assert.match(out, /CONTROL_SOCKET_INSECURE/);
      assert.deepEqual(await readdir(join(dir, 'state')), [], 'no identity, no state');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an inbox others can write is refused at start with INBOX_UNWRITABLE', async () => {
    const { code, out, dir } = await daemonIn(async (d) => {
      await mkdir(join(d, 'in'));
      await chmod(join(d, 'in'), 0o777);
    });
    try {
      assert.equal(code, 73, out);
      assert.match(out, /INBOX_UNWRITABLE/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
