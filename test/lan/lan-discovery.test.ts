/**
 * Three hosts on a simulated LAN (network namespaces on a bridge), one daemon each, talking over
 * real mDNS and TLS across veth links: discovery by name between hosts, a send by name, and two
 * hosts that share a name told apart by short id. Then hundreds of peers: a forger announces 600
 * from 40 addresses; the table stops at its cap and `p2pd peers --json` stays fast.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TestDaemon, cli, waitFor } from '../helpers/daemons.js';
import { DEFAULT_DISCOVERY } from '../helpers/lan-scale.js';
import type { ForgerPlan } from '../helpers/mdns-forger.js';
import { DEFAULT_PEER_TABLE_OPTIONS } from '../../src/discovery/peer-table.js';
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

const FORGER = fileURLToPath(new URL('../helpers/mdns-forger.js', import.meta.url));
/** The table's new ids per source and minute is 16: 15 from each of 40 addresses all get in at once. */
const SOURCES = 40;
const FORGED = SOURCES * 15;
/** How much longer `p2pd peers --json` may take than `p2pd id --json` (the CLI's own start-up). */
const PEERS_EXTRA_MS = 1000;

describe(`${FORGED} peers announced on the LAN`, { skip: why ?? false, timeout: 240_000 }, () => {
  let lan: Lan;
  let victim: TestDaemon;
  let forger: ChildProcess | undefined;

  before(async () => {
    lan = Lan.create(['victim', 'crowd']);
    victim = await TestDaemon.create({ name: 'victim', interfaces: ['eth0'], prefix: lan.host('victim').prefix, extra: { discovery: DEFAULT_DISCOVERY } });
    await victim.start(60_000, { fromLog: true });
    const sources = lan.addAddresses('crowd', SOURCES);
    // Every forged id announced again every 5 s, so none expires and the table stays full.
    const plan: ForgerPlan = {
      self: lan.host('crowd').address,
      sources,
      everyMs: 5000,
      services: [],
      floodPerTick: FORGED,
      floodTotal: FORGED,
      floodRepeat: true,
    };
    const [cmd, ...args] = [...lan.host('crowd').prefix, process.execPath, FORGER, JSON.stringify(plan)];
    forger = spawn(cmd!, args, { stdio: 'ignore' });
  });

  after(async () => {
    forger?.kill('SIGKILL');
    await victim?.destroy();
    lan?.destroy();
  });

  it(`the table fills to its cap (${DEFAULT_PEER_TABLE_OPTIONS.maxPeers}) and no further`, async () => {
    const cap = DEFAULT_PEER_TABLE_OPTIONS.maxPeers;
    // Asked over the control API, not read from the log; a burst of 600 datagrams may lose some on
    // a loaded machine, and the forger announces them all again every 5 s.
    await waitFor(
      async () => (await victim.json<{ peers: Array<{ online: boolean }> }>(['peers'])).peers.filter((p) => p.online).length >= cap,
      120_000,
      `the victim to list ${cap} forged peers`,
    );
    await waitFor(() => victim.log.includes('"reason":"full"'), 30_000, 'the victim to log the refused ones');
    const { peers } = await victim.json<{ peers: Array<{ name: string; online: boolean }> }>(['peers']);
    assert.equal(peers.filter((p) => p.online).length, cap);
    assert.ok(peers.every((p) => /^fake\d+$/.test(p.name)));
  });

  it(`\`p2pd peers --json\` with ${DEFAULT_PEER_TABLE_OPTIONS.maxPeers} peers answers within ${PEERS_EXTRA_MS} ms of \`p2pd id --json\``, async () => {
    const timed = async (args: string[]): Promise<number> => {
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t = Date.now();
        const r = await cli([...args, '--json', '--config', victim.configPath], { prefix: lan.host('victim').prefix, timeoutMs: 30_000 });
        assert.equal(r.code, 0, r.stderr);
        best = Math.min(best, Date.now() - t);
      }
      return best;
    };
    const idMs = await timed(['id']);
    const peersMs = await timed(['peers']);
    console.log(`p2pd id --json: ${idMs} ms; p2pd peers --json with ${DEFAULT_PEER_TABLE_OPTIONS.maxPeers} peers: ${peersMs} ms`);
    assert.ok(peersMs - idMs <= PEERS_EXTRA_MS, `peers took ${peersMs} ms against ${idMs} ms for id`);
  });
});
