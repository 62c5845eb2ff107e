/**
 * Interrupted transfers continue where they stopped, on real daemons over loopback: the receiver
 * killed with SIGKILL and restarted, a cancel followed by a new send of the same file, and a
 * changed source that must start again from zero instead of producing a mixed file, and kept data
 * changed at the receiver between attempts, which a resume must not build on.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, open, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemons.js';
import { sha256File } from '../helpers/files.js';

const tag = randomBytes(2).toString('hex');
const A = `ava-${tag}`;
const B = `ben-${tag}`;
const SIZE = 2 * 1024 * 1024 * 1024;

interface T {
  id: string;
  direction: string;
  state: string;
  bytesDone: number;
  bytesTotal: number;
  resumedFrom: number;
  attempts: number;
}

describe('resume', { timeout: 400_000 }, () => {
  let ava: TestDaemon;
  let ben: TestDaemon;
  let data: string;

  before(async () => {
    data = await mkdtemp(join(tmpdir(), 'p2pd-resume-'));
    ava = await TestDaemon.create({ name: A, extra: { retry: { minDelaySeconds: 1, maxDelaySeconds: 2, giveUpMinutes: 5 } } });
    ben = await TestDaemon.create({ name: B });
    await Promise.all([ava.start(), ben.start()]);
    await ava.waitForPeer(B);
    assert.equal((await ben.cli(['trust', await ava.id(), '--name', A])).code, 0);
  });
  after(async () => {
    await Promise.all([ava?.destroy(), ben?.destroy()]);
    if (data) await rm(data, { recursive: true, force: true });
  });

  /** Waits until ben has received at least `fraction` of the transfer in progress. */
  async function receivedAtLeast(fraction: number): Promise<T> {
    let t: T | undefined;
    await waitFor(
      async () => {
        t = (await ben.json<{ transfers: T[] }>(['status'])).transfers.find((x) => x.direction === 'in' && x.state === 'receiving');
        return t !== undefined && t.bytesDone >= fraction * t.bytesTotal;
      },
      60_000,
      `${fraction * 100} % to arrive`,
    );
    return t!;
  }

  /** Sends `f` in the background and cancels it once ben has `fraction` of it. */
  async function sendAndCancelAt(f: string, fraction: number): Promise<void> {
    const started = await ava.json<{ transfer: T }>(['send', B, f, '--detach']);
    await receivedAtLeast(fraction);
    assert.equal((await ava.cli(['cancel', started.transfer.id])).code, 0);
    await waitFor(async () => !(await ben.json<{ transfers: T[] }>(['status'])).transfers.some((x) => x.state === 'receiving'), 10_000, 'the cancel');
  }

  it('the receiver killed with SIGKILL mid-transfer: after its restart the send resumes, not from zero', async () => {
    const f = join(data, 'big.bin');
    await writeFile(f, '');
    await truncate(f, SIZE);
    await appendFile(f, randomBytes(1000)); // not all zeros at the end
    const sending = ava.cli(['send', B, f], 180_000);
    await receivedAtLeast(0.3);
    await ben.stop('SIGKILL');
    await ben.start();
    const r = await sending;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(join(ben.inbox, 'big.bin')), await sha256File(f));
    const inbound = (await ben.json<{ transfers: T[] }>(['status'])).transfers.find((x) => x.direction === 'in' && x.state === 'done');
    assert.ok(inbound && inbound.resumedFrom >= 0.25 * SIZE, `resumed from ${inbound?.resumedFrom}`);
    const outbound = (await ava.json<{ transfers: T[] }>(['status'])).transfers.find((x) => x.direction === 'out' && x.state === 'done');
    assert.ok(outbound && outbound.attempts >= 2 && outbound.resumedFrom > 0, JSON.stringify(outbound));
    await rm(join(ben.inbox, 'big.bin'));
  });

  it('cancel, then a new send of the same file continues from where it stopped', async () => {
    const f = join(data, 'again.bin');
    await writeFile(f, '');
    await truncate(f, SIZE);
    await sendAndCancelAt(f, 0.3);
    const r = await ava.cli(['send', B, f, '--json'], 120_000);
    assert.equal(r.code, 0, r.stderr);
    const t = (JSON.parse(r.stdout) as { transfer: T }).transfer;
    assert.ok(t.resumedFrom >= 0.25 * SIZE, `resumed from ${t.resumedFrom}`);
    assert.equal(await sha256File(join(ben.inbox, 'again.bin')), await sha256File(f));
    await rm(join(ben.inbox, 'again.bin'));
  });

  it('a source that changed meanwhile starts again from zero: never a mixed file', async () => {
    const f = join(data, 'changing.bin');
    await writeFile(f, '');
    await truncate(f, SIZE);
    await sendAndCancelAt(f, 0.3);
    // Change the first block: a resume would keep the old bytes there.
    const fh = await open(f, 'r+');
    await fh.write(Buffer.from('changed'), 0, 7, 0);
    await fh.close();
    const r = await ava.cli(['send', B, f, '--json'], 120_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { transfer: T }).transfer.resumedFrom, 0);
    assert.equal(await sha256File(join(ben.inbox, 'changing.bin')), await sha256File(f));
  });

  it('hostile: a kept partial file changed between attempts is not trusted: the file lands right', async () => {
    const f = join(data, 'tampered.bin');
    await writeFile(f, '');
    await truncate(f, SIZE);
    await sendAndCancelAt(f, 0.3);
    // Someone changes ben's kept data at 100 MiB; its journal still holds the old digests.
    const partialDir = join(ben.inbox, '.p2pd-partial');
    const kept = [];
    for (const n of await readdir(partialDir)) if (n.endsWith('.part')) kept.push({ n, t: (await stat(join(partialDir, n))).mtimeMs });
    kept.sort((a, b) => b.t - a.t);
    const at = 100 * 1024 * 1024;
    const fh = await open(join(partialDir, kept[0]!.n), 'r+');
    await fh.write(Buffer.from('tampered'), 0, 8, at + 5);
    await fh.close();
    const r = await ava.cli(['send', B, f, '--json'], 120_000);
    assert.equal(r.code, 0, r.stderr);
    const t = (JSON.parse(r.stdout) as { transfer: T }).transfer;
    assert.ok(t.resumedFrom <= at, `resumed from ${t.resumedFrom}, past the changed block`);
    assert.equal(await sha256File(join(ben.inbox, 'tampered.bin')), await sha256File(f));
    await rm(join(ben.inbox, 'tampered.bin'));
  });
});
