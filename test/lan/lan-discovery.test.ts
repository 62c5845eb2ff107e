/**
 * Three hosts on a simulated LAN (network namespaces on a bridge), one daemon each, talking over
 * real mDNS and TLS across veth links: discovery by name between hosts, a send by name, and two
 * hosts that share a name told apart by short id.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDaemon } from '../helpers/daemons.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { Lan, SUBNET, lanUnavailable } from '../helpers/lan.js';

const why = lanUnavailable();
if (why !== null) {
  console.warn(`\n*** LAN suite SKIPPED: ${why} ***\n`);
}

describe('a simulated LAN of three hosts', { skip: why ?? false, timeout: 180_000 }, () => {
  let lan: Lan;
  let alice: TestDaemon;
  let bob: TestDaemon;
  let bob2: TestDaemon;
  let data: string;

  before(async () => {
    lan = Lan.create(['alice', 'bob', 'bob2']);
    data = await mkdtemp(join(tmpdir(), 'p2pd-lan-'));
    const make = (host: string, name: string): Promise<TestDaemon> => TestDaemon.create({ name, interfaces: ['eth0'], prefix: lan.host(host).prefix });
    [alice, bob, bob2] = await Promise.all([make('alice', 'alice'), make('bob', 'bob'), make('bob2', 'bob')]);
    await Promise.all([alice.start(), bob.start(), bob2.start()]);
  });

  after(async () => {
    await Promise.all([alice?.destroy(), bob?.destroy(), bob2?.destroy()]);
    lan?.destroy();
    if (data) await rm(data, { recursive: true, force: true });
  });

  it('every host sees the others at their LAN addresses', async () => {
    const bobId = await bob.id();
    const bob2Id = await bob2.id();
    await alice.waitForPeer('bob');
    await new Promise((r) => setTimeout(r, 100));
    const deadline = Date.now() + 20_000;
    let peers: Array<{ id: string; name: string; displayName: string; addresses: string[] }> = [];
    while (Date.now() < deadline) {
      peers = (await alice.json<{ peers: typeof peers }>(['peers'])).peers;
      if (peers.length >= 2) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const b = peers.find((p) => p.id === bobId);
    const b2 = peers.find((p) => p.id === bob2Id);
    assert.ok(b && b2, JSON.stringify(peers));
    assert.ok(b.addresses.includes(`${lan.host('bob').address}:${b.addresses[0]!.split(':')[1]}`), JSON.stringify(b));
    assert.ok(b.addresses.every((a) => a.startsWith(`${SUBNET}.`)));
    // Two peers called "bob": each is shown as bob#<short id>.
    assert.equal(b.displayName, `bob#${bobId.slice(0, 7)}`);
    assert.equal(b2.displayName, `bob#${bob2Id.slice(0, 7)}`);
  });

  it('a send by plain name is ambiguous; by name#short-id it reaches the right host', async () => {
    const bobId = await bob.id();
    assert.equal((await bob.cli(['trust', 'alice'])).code, 0);
    const f = join(data, 'lan.bin');
    await writeRandomFile(f, 5 * 1024 * 1024);
    const amb = await alice.cli(['send', 'bob', f, '--json']);
    assert.equal(amb.code, 64, amb.stderr);
    assert.equal((JSON.parse(amb.stdout) as { error: { code: string } }).error.code, 'PEER_AMBIGUOUS');
    const r = await alice.cli(['send', `bob#${bobId.slice(0, 7)}`, f]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(join(bob.inbox, 'lan.bin')), await sha256File(f));
  });

  it('the untrusted second bob refuses alice', async () => {
    const bob2Id = await bob2.id();
    const r = await alice.cli(['send', bob2Id, join(data, 'lan.bin'), '--json']);
    assert.equal(r.code, 77, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { transfer: { error: { code: string } } }).transfer.error.code, 'PEER_NOT_TRUSTED');
  });
});
