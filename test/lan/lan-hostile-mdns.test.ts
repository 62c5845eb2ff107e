/**
 * A hostile device on the LAN forges mDNS (issue "Hold the line", item 1 and 4): it announces a
 * name equal to trusted bob's short id, bob's own id at its address on other ports, an id no key
 * can have, a loopback address, and a flood of fresh fake peers. Alice must still send to bob by
 * short id and by name, list her peers, keep her table and log bounded, and dial no loopback.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { TestDaemon, sleep } from '../helpers/daemons.js';
import { writeRandomFile } from '../helpers/files.js';
import { Lan, lanUnavailable } from '../helpers/lan.js';
import type { ForgerPlan } from '../helpers/mdns-forger.js';
import { peerIdFromSpki } from '../../src/transport/peer-id.js';

const FORGER = fileURLToPath(new URL('../helpers/mdns-forger.js', import.meta.url));
const why = lanUnavailable();
if (why !== null) console.warn(`\n*** LAN suite SKIPPED: ${why} ***\n`);

interface Peer {
  id: string;
  name: string;
  addresses: string[];
  impersonates: string | null;
}

describe('forged mDNS from a stranger on the LAN', { skip: why ?? false, timeout: 180_000 }, () => {
  let lan: Lan;
  let alice: TestDaemon;
  let bob: TestDaemon;
  let forger: ChildProcess | undefined;
  let data: string;
  let bobId: string;
  const strangerId = peerIdFromSpki(randomBytes(32));

  before(async () => {
    lan = Lan.create(['alice', 'bob', 'mallory']);
    data = await mkdtemp(join(tmpdir(), 'p2pd-lan-forge-'));
    const make = (host: string): Promise<TestDaemon> => TestDaemon.create({ name: host, interfaces: ['eth0'], prefix: lan.host(host).prefix });
    [alice, bob] = await Promise.all([make('alice'), make('bob')]);
    await Promise.all([alice.start(), bob.start()]);
    bobId = await bob.id();
    const aliceId = await alice.id();
    assert.equal((await alice.cli(['trust', bobId, '--name', 'bob'])).code, 0);
    assert.equal((await bob.cli(['trust', aliceId, '--name', 'alice'])).code, 0);
    await alice.waitForPeer('bob');

    const mallory = lan.host('mallory').address;
    const plan: ForgerPlan = {
      self: mallory,
      everyMs: 300,
      services: [
        { id: strangerId, name: bobId.slice(0, 7), port: 41000 },
        { id: bobId, name: 'bob', port: 42000 },
        { id: bobId, name: 'bob', port: 42001 },
        { id: 'B'.repeat(52), name: 'notakey', port: 43000 },
        { id: peerIdFromSpki(randomBytes(32)), name: 'loopy', port: 44000, address: '127.0.0.1' },
      ],
      floodPerTick: 150,
      floodTotal: 3000,
    };
    const [cmd, ...args] = [...lan.host('mallory').prefix, process.execPath, FORGER, JSON.stringify(plan)];
    forger = spawn(cmd!, args, { stdio: 'ignore' });
    // let the forgeries and the flood arrive (3000 fakes at 150 per 300 ms: 6 s)
    await sleep(7000);
  });

  after(async () => {
    forger?.kill('SIGKILL');
    await Promise.all([alice?.destroy(), bob?.destroy()]);
    lan?.destroy();
    if (data) await rm(data, { recursive: true, force: true });
  });

  it('a name equal to trusted bob short id does not take it over; peers flags the stranger', async () => {
    const file = join(data, 'by-short-id.bin');
    await writeRandomFile(file, 64 * 1024);
    const r = await alice.cli(['send', bobId.slice(0, 7), file], 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readdir(bob.inbox)).includes('by-short-id.bin'));
    const { peers } = await alice.json<{ peers: Peer[] }>(['peers']);
    const stranger = peers.find((p) => p.id === strangerId);
    assert.ok(stranger, 'the stranger is listed');
    assert.equal(stranger.impersonates, 'bob');
  });

  it('forged addresses for bob do not drop his real one: send bob still lands', async () => {
    const file = join(data, 'by-name.bin');
    await writeRandomFile(file, 64 * 1024);
    const r = await alice.cli(['send', 'bob', file], 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readdir(bob.inbox)).includes('by-name.bin'));
    const { peers } = await alice.json<{ peers: Peer[] }>(['peers']);
    const me = peers.find((p) => p.id === bobId)!;
    assert.ok(me.addresses.includes(`${lan.host('bob').address}:${(await bob.json<{ port: number }>(['id'])).port}`), me.addresses.join(' '));
  });

  it('the flood is bounded and summarised; no invalid id and no loopback address gets in', async () => {
    const { peers } = await alice.json<{ peers: Peer[] }>(['peers']);
    assert.ok(peers.length <= 40, `${peers.length} peers listed`);
    assert.ok(!peers.some((p) => p.name === 'notakey'));
    assert.ok(!peers.some((p) => p.addresses.some((a) => a.startsWith('127.'))));
    const appeared = alice.log.split('\n').filter((l) => l.includes('peer appeared')).length;
    assert.ok(appeared <= 40, `${appeared} 'peer appeared' lines`);
    assert.match(alice.log, /mDNS announcements refused/);
  });
});
