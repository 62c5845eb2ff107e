/**
 * A receiver whose inbox is a small tmpfs (16 MiB). An offer that clearly does not fit is refused
 * at once with INSUFFICIENT_SPACE; an offer that fits when it arrives but not by the time its data
 * does (the file system is filled from outside while the data flows, over a 20 Mbit/s link so that
 * there is time) fails with DISK_FULL. Both times: the sender's command exits 73 with the code,
 * the receiver stays up and records the failure, and no final file is left in the inbox. What
 * arrived before the disk filled is kept (onDiskFull "keep") and a new send resumes from it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDaemon } from '../helpers/daemons.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { Lan, lanUnavailable, transfers, waitForEachOther, waitForProgress, type TransferInfo } from '../helpers/lan.js';

const why = lanUnavailable(['shaping', 'tmpfs']);
if (why !== null) console.warn(`\n*** LAN disk-full tests SKIPPED: ${why} ***\n`);

const INBOX_SIZE = 16 * 1024 * 1024;
const FILLER = '.filler';

interface SendJson {
  transfer: TransferInfo & { files?: Array<{ ok: boolean; error?: { code: string } }> };
}

/** Writes zeros into `path` until the file system is full; returns the bytes written. */
async function fillUp(path: string): Promise<number> {
  const fh = await open(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  let n = 0;
  try {
    for (;;) {
      try {
        const { bytesWritten } = await fh.write(block);
        n += bytesWritten;
        if (bytesWritten < block.length) break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  } finally {
    await fh.close();
  }
  return n;
}

/** Entries of the inbox that are final files (not the partial directory, not our filler). */
async function finalFiles(inbox: string): Promise<string[]> {
  return (await readdir(inbox)).filter((n) => !n.startsWith('.'));
}

describe('a receiver whose inbox fills up', { skip: why ?? false, timeout: 120_000 }, () => {
  let lan: Lan;
  let alice: TestDaemon;
  let bob: TestDaemon;
  let data: string;

  before(async () => {
    lan = Lan.create(['alice', 'bob']);
    data = await mkdtemp(join(tmpdir(), 'p2pd-lan-'));
    lan.limit('bob', { rateMbit: 20 });
    alice = await TestDaemon.create({ name: 'alice', interfaces: ['eth0'], prefix: lan.host('alice').prefix });
    bob = await TestDaemon.create({
      name: 'bob',
      accept: 'all',
      interfaces: ['eth0'],
      prefix: lan.host('bob').prefix,
      // No reserve: the free-space check lets through what fits exactly, so that the second case
      // can overflow the disk after the offer was accepted.
      extra: { limits: { minFreeSpace: 0, idleTimeoutSeconds: 5 } },
    });
    lan.tmpfsInbox(bob, INBOX_SIZE);
    await Promise.all([alice.start(), bob.start()]);
    await waitForEachOther(alice, bob);
  });

  after(async () => {
    try {
      await Promise.all([alice?.stop(), bob?.stop()]);
      lan?.destroy(); // unmounts the tmpfs before the daemons' directories go
      await Promise.all([alice?.destroy(), bob?.destroy()]);
    } finally {
      lan?.destroy();
      if (data) await rm(data, { recursive: true, force: true });
    }
  });

  it('refuses an offer larger than the free space with INSUFFICIENT_SPACE', async () => {
    const f = join(data, 'too-big.bin');
    await writeRandomFile(f, 24 * 1024 * 1024);
    const r = await alice.cli(['send', 'bob', f, '--json'], 60_000);
    assert.equal(r.code, 73, `${r.stdout}\n${r.stderr}`);
    const { transfer } = JSON.parse(r.stdout) as SendJson;
    assert.equal(transfer.state, 'failed');
    assert.equal(transfer.error?.code, 'INSUFFICIENT_SPACE');
    assert.equal((await bob.cli(['status'])).code, 0, 'the receiver is still up');
    const seen = (await transfers(bob)).find((t) => t.id === transfer.id);
    assert.ok(seen, 'the receiver lists the refused transfer');
    assert.equal(seen.state, 'failed');
    assert.equal(seen.error?.code, 'INSUFFICIENT_SPACE');
    assert.deepEqual(await finalFiles(bob.inbox), []);
  });

  it('fails with DISK_FULL when the disk fills up while the data flows', async () => {
    const f = join(data, 'squeezed.bin');
    await writeRandomFile(f, 10 * 1024 * 1024);
    const before = new Set((await transfers(bob)).map((t) => t.id));
    const sending = alice.cli(['send', 'bob', f, '--json'], 60_000);
    // The offer fitted (16 MiB free, 10 MiB offered); now take the space away.
    const running = await waitForProgress(bob, 0.05, { filter: (t) => t.direction === 'in' && !before.has(t.id), timeoutMs: 30_000 });
    assert.ok(running.bytesDone < running.bytesTotal * 0.8, 'the fill came early enough');
    await fillUp(join(bob.inbox, FILLER));
    try {
      const r = await sending;
      assert.equal(r.code, 73, `${r.stdout}\n${r.stderr}`);
      const { transfer } = JSON.parse(r.stdout) as SendJson;
      assert.equal(transfer.state, 'failed');
      const codes = [transfer.error?.code, ...(transfer.files ?? []).map((x) => x.error?.code)];
      assert.ok(codes.includes('DISK_FULL'), JSON.stringify(transfer));
      assert.equal((await bob.cli(['status'])).code, 0, 'the receiver is still up');
      const seen = (await transfers(bob)).find((t) => t.id === transfer.id);
      assert.ok(seen, 'the receiver lists the failed transfer');
      assert.equal(seen.state, 'failed');
      assert.equal(seen.error?.code, 'DISK_FULL');
      assert.deepEqual(await finalFiles(bob.inbox), []);
      // The receiver says so too: not "received" at info, not "failed verification".
      assert.doesNotMatch(bob.log, /"msg":"received"/);
      assert.match(bob.log, /DISK_FULL/);
    } finally {
      await rm(join(bob.inbox, FILLER), { force: true });
    }
  });

  it('keeps what arrived before the disk filled (onDiskFull "keep") and resumes from it once space is freed', async () => {
    const partialDir = join(bob.inbox, '.p2pd-partial');
    for (const n of await readdir(partialDir)) await rm(join(partialDir, n), { force: true, recursive: true });
    // Small next to the 16 MiB disk: the new offer must fit beside the kept data (the free-space
    // check counts the whole file, not what a resume will skip).
    const f = join(data, 'kept.bin');
    await writeRandomFile(f, 6 * 1024 * 1024);
    const before = new Set((await transfers(bob)).map((t) => t.id));
    const sending = alice.cli(['send', 'bob', f, '--json'], 60_000);
    // Several whole blocks (1 MiB each) arrive before the space goes.
    const running = await waitForProgress(bob, 0.35, { filter: (t) => t.direction === 'in' && !before.has(t.id), timeoutMs: 30_000 });
    assert.ok(running.bytesDone < running.bytesTotal * 0.9, 'the fill came early enough');
    await fillUp(join(bob.inbox, FILLER));
    try {
      const r = await sending;
      assert.equal(r.code, 73, `${r.stdout}\n${r.stderr}`);
      const seen = (await transfers(bob)).find((t) => t.id === (JSON.parse(r.stdout) as SendJson).transfer.id);
      assert.equal(seen?.error?.code, 'DISK_FULL', JSON.stringify(seen));
      const kept = (await readdir(partialDir)).filter((n) => n.endsWith('.part'));
      assert.equal(kept.length, 1, `kept: ${kept.join()}`);
      const { size } = await stat(join(partialDir, kept[0]!));
      assert.ok(size >= 1024 * 1024, `kept ${size} bytes`);
    } finally {
      await rm(join(bob.inbox, FILLER), { force: true });
    }
    const again = await alice.cli(['send', 'bob', f, '--json'], 60_000);
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
    const t = (JSON.parse(again.stdout) as { transfer: { resumedFrom?: number } }).transfer;
    assert.ok((t.resumedFrom ?? 0) >= 1024 * 1024, `resumed from ${t.resumedFrom}`);
    assert.equal(await sha256File(join(bob.inbox, 'kept.bin')), await sha256File(f));
    assert.deepEqual(
      (await readdir(partialDir)).filter((n) => n.startsWith('r-')),
      [],
      'nothing left to resume',
    );
    await rm(join(bob.inbox, 'kept.bin'));
  });

  it('takes files again once there is room', async () => {
    const f = join(data, 'small.bin');
    await writeRandomFile(f, 1024 * 1024);
    const r = await alice.cli(['send', 'bob', f], 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(join(bob.inbox, 'small.bin')), await sha256File(f));
  });
});
