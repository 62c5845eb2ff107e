/**
 * A send by name between two hosts over a poor link: 100 Mbit/s each way (tbf), 1 % of packets
 * lost in each direction (iptables), and 10 ms of latency on each cable (the user-space relay:
 * 20 ms one way between the hosts, 40 ms round trip). Discovery must still find the peer over mDNS
 * across all of it, and the file must arrive verified.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDaemon } from '../helpers/daemons.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { Lan, lanUnavailable, waitForEachOther } from '../helpers/lan.js';

const why = lanUnavailable(['shaping', 'loss', 'delay']);
if (why !== null) console.warn(`\n*** LAN link-condition tests SKIPPED: ${why} ***\n`);

const SIZE = 24 * 1024 * 1024;

describe('a send over a slow, lossy, distant link', { skip: why ?? false, timeout: 150_000 }, () => {
  let lan: Lan;
  let alice: TestDaemon;
  let bob: TestDaemon;
  let data: string;

  before(async () => {
    lan = Lan.create(['alice', 'bob']);
    data = await mkdtemp(join(tmpdir(), 'p2pd-lan-'));
    for (const host of ['alice', 'bob']) {
      lan.limit(host, { rateMbit: 100 });
      lan.loss(host, 1);
      await lan.delay(host, 10);
    }
    const make = (name: string): Promise<TestDaemon> => TestDaemon.create({ name, interfaces: ['eth0'], prefix: lan.host(name).prefix });
    [alice, bob] = await Promise.all([make('alice'), make('bob')]);
    await Promise.all([alice.start(), bob.start()]);
  });

  after(async () => {
    try {
      await Promise.all([alice?.destroy(), bob?.destroy()]);
    } finally {
      lan?.destroy();
      if (data) await rm(data, { recursive: true, force: true });
    }
  });

  it('finds the peer by name and delivers a file verified', async (t) => {
    await waitForEachOther(alice, bob);
    assert.equal((await bob.cli(['trust', 'alice'])).code, 0);
    const f = join(data, 'far.bin');
    await writeRandomFile(f, SIZE);
    const started = Date.now();
    const r = await alice.cli(['send', 'bob', f, '--json'], 120_000);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const { transfer } = JSON.parse(r.stdout) as { transfer: { state: string; bytesDone: number; bytesPerSecond: number } };
    assert.equal(transfer.state, 'done');
    assert.equal((await stat(join(bob.inbox, 'far.bin'))).size, SIZE);
    assert.equal(await sha256File(join(bob.inbox, 'far.bin')), await sha256File(f));
    const mbit = (transfer.bytesPerSecond * 8) / 1e6;
    t.diagnostic(
      `${SIZE / 2 ** 20} MiB over 100 Mbit/s, 1 % loss each way, 40 ms RTT: ${mbit.toFixed(1)} Mbit/s (daemon), ${seconds.toFixed(1)} s for the whole command`,
    );
    assert.ok(transfer.bytesPerSecond > 0);
  });
});
