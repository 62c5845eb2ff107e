/**
 * Trust on a hostile LAN, through the real CLI and real daemons: pairing with a code, the accept
 * policies (ask with incoming/accept/reject and its timeout, deny and auto overrides, all), the
 * limits (sizes, free space, per-peer inbox folders, connection rate), an impostor using a trusted
 * peer's name, and a control socket in a directory open to others.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, TestDaemon, waitFor } from '../helpers/daemons.js';
import { sha256File } from '../helpers/files.js';

const tag = randomBytes(2).toString('hex');

interface PeerJson {
  id: string;
  name: string;
  trusted: boolean;
  online: boolean;
  impersonates: string | null;
}
interface PairingJson {
  id: string;
  direction: string;
  code: string | null;
  state: string;
  peer: { id: string; name: string };
}
interface OfferJson {
  id: string;
  files: number;
  bytes: number;
  names: string[];
  peer: { id: string; name: string };
}

function visible(dir: string): Promise<string[]> {
  return readdir(dir).then((n) => n.filter((x) => !x.startsWith('.')).sort());
}

describe('pairing through the CLI', { timeout: 120_000 }, () => {
  const P = `pia-${tag}`;
  const Q = `quinn-${tag}`;
  let p: TestDaemon;
  let q: TestDaemon;

  before(async () => {
    p = await TestDaemon.create({ name: P });
    q = await TestDaemon.create({ name: Q });
    await Promise.all([p.start(), q.start()]);
    await Promise.all([p.waitForPeer(Q), q.waitForPeer(P)]);
  });
  after(async () => Promise.all([p?.destroy(), q?.destroy()]));

  it('both sides show the same code; after both confirm, each trusts the other', async () => {
    // `p2pd pair` without a terminal prints the code and waits for --confirm.
    const child = spawn(process.execPath, [MAIN, 'pair', Q, '--config', p.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitFor(() => /Verification code: \d{3} \d{3}/.test(out), 15_000, 'the code on the initiator');
      const codeHere = /Verification code: (\d{3} \d{3})/.exec(out)![1];
      let theirs: PairingJson | undefined;
      await waitFor(
        async () => {
          theirs = (await q.json<{ pairings: PairingJson[] }>(['pair', '--list'])).pairings.find((x) => x.code !== null);
          return theirs !== undefined;
        },
        10_000,
        'the pairing on the responder',
      );
      assert.equal(theirs!.code, codeHere, 'both screens show the same code');
      assert.equal(theirs!.direction, 'in');
      // Nobody is trusted before both confirmed.
      assert.equal((await q.json<{ peers: PeerJson[] }>(['peers'])).peers.find((x) => x.name === P)?.trusted, false);
      assert.equal((await q.cli(['pair', '--confirm'])).code, 0);
      const mine = (await p.json<{ pairings: PairingJson[] }>(['pair', '--list'])).pairings[0]!;
      assert.equal((await p.cli(['pair', '--confirm', mine.id])).code, 0);
      assert.equal(await exited, 0, out);
    } finally {
      child.kill();
    }
    assert.equal((await p.json<{ peers: PeerJson[] }>(['peers'])).peers.find((x) => x.name === Q)?.trusted, true);
    assert.equal((await q.json<{ peers: PeerJson[] }>(['peers'])).peers.find((x) => x.name === P)?.trusted, true);
    // And the trust is real: P may now send to Q, whose accept policy is "trusted".
    const f = join(p.dir, 'after-pairing.txt');
    await writeFile(f, 'paired');
    assert.equal((await p.cli(['send', Q, f])).code, 0);
  });

  it('a rejected pairing trusts nobody; untrust undoes a trust', async () => {
    assert.equal((await q.cli(['untrust', P])).code, 0);
    assert.equal((await p.cli(['untrust', Q])).code, 0);
    const child = spawn(process.execPath, [MAIN, 'pair', Q, '--json', '--config', p.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let out = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await waitFor(async () => (await q.json<{ pairings: PairingJson[] }>(['pair', '--list'])).pairings.some((x) => x.code !== null), 15_000, 'the pairing');
    assert.equal((await q.cli(['pair', '--reject'])).code, 0);
    assert.equal(await exited, 77, err);
    assert.equal(JSON.parse(out).error.code, 'PAIRING_REJECTED');
    assert.equal((await p.json<{ peers: PeerJson[] }>(['peers'])).peers.find((x) => x.name === Q)?.trusted, false);
    assert.equal((await q.json<{ peers: PeerJson[] }>(['peers'])).peers.find((x) => x.name === P)?.trusted, false);
  });
});

describe('accept policies through the CLI', { timeout: 180_000 }, () => {
  const S = `sam-${tag}`;
  const R = `rex-${tag}`;
  let sender: TestDaemon;
  let receiver: TestDaemon;
  let file: string;

  before(async () => {
    sender = await TestDaemon.create({ name: S });
    receiver = await TestDaemon.create({ name: R, accept: 'ask' as 'trusted', extra: { askTimeoutSeconds: 6 } });
    await Promise.all([sender.start(), receiver.start()]);
    await Promise.all([sender.waitForPeer(R), receiver.waitForPeer(S)]);
    file = join(sender.dir, 'offer.txt');
    await writeFile(file, 'an offer');
  });
  after(async () => Promise.all([sender?.destroy(), receiver?.destroy()]));

  it("ask: an unknown peer's offer waits, shows in incoming, and lands on accept", async () => {
    const sending = sender.cli(['send', R, file]);
    let offer: OfferJson | undefined;
    await waitFor(
      async () => {
        offer = (await receiver.json<{ offers: OfferJson[] }>(['incoming'])).offers[0];
        return offer !== undefined;
      },
      10_000,
      'the offer to wait',
    );
    assert.equal(offer!.peer.name, S);
    assert.equal(offer!.files, 1);
    assert.deepEqual(offer!.names, ['offer.txt']);
    const st = await sender.json<{ transfers: Array<{ state: string }> }>(['status']);
    assert.equal(st.transfers[0]?.state, 'waiting', 'the sender shows that it waits for the receiver');
    assert.equal((await receiver.cli(['accept', offer!.id])).code, 0);
    const r = await sending;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(receiver.inbox, 'offer.txt')));
  });

  it('ask: reject refuses the offer; the sender sees PEER_REFUSED', async () => {
    const sending = sender.cli(['send', R, file, '--json']);
    await waitFor(async () => (await receiver.json<{ offers: OfferJson[] }>(['incoming'])).offers.length > 0, 10_000, 'the offer');
    const { offers } = await receiver.json<{ offers: OfferJson[] }>(['incoming']);
    assert.equal((await receiver.cli(['reject', offers[0]!.id])).code, 0);
    const r = await sending;
    assert.equal(r.code, 77);
    assert.equal(JSON.parse(r.stdout).transfer.error.code, 'PEER_REFUSED');
    assert.deepEqual(await visible(receiver.inbox), ['offer.txt'], 'nothing more landed');
    const unknown = await receiver.cli(['accept', 'nosuchoffer']);
    assert.equal(unknown.code, 1);
  });

  it('ask: an offer nobody answers is refused after askTimeoutSeconds', async () => {
    const started = Date.now();
    const r = await sender.cli(['send', R, file, '--json']);
    assert.equal(r.code, 77);
    assert.equal(JSON.parse(r.stdout).transfer.error.code, 'PEER_REFUSED');
    assert.ok(Date.now() - started >= 5000, 'it waited for the timeout');
  });

  it('overrides: "deny" refuses at once, "auto" lets an untrusted peer in without asking', async () => {
    const sId = await sender.id();
    await receiver.stop();
    const cfg = { ...(await import('node:fs/promises').then((f) => f.readFile(receiver.configPath, 'utf8')).then(JSON.parse)) };
    cfg.acceptOverrides = { [sId]: 'deny' };
    await writeFile(receiver.configPath, JSON.stringify(cfg));
    await receiver.start();
    await sender.waitForPeer(R);
    const denied = await sender.cli(['send', R, file, '--json']);
    assert.equal(denied.code, 77);
    assert.equal(JSON.parse(denied.stdout).transfer.error.code, 'PEER_REFUSED');
    // SIGHUP applies a new override without a restart.
    cfg.acceptOverrides = { [sId]: 'auto' };
    await writeFile(receiver.configPath, JSON.stringify(cfg));
    process.kill(receiver.pid!, 'SIGHUP');
    await waitFor(() => /config reloaded/.test(receiver.log), 5000, 'the reload');
    const f2 = join(sender.dir, 'auto.txt');
    await writeFile(f2, 'auto');
    const ok = await sender.cli(['send', R, f2]);
    assert.equal(ok.code, 0, ok.stderr);
  });
});

describe('limits through the CLI', { timeout: 180_000 }, () => {
  const S = `sue-${tag}`;
  const R = `ray-${tag}`;
  let sender: TestDaemon;
  let receiver: TestDaemon;

  before(async () => {
    sender = await TestDaemon.create({ name: S });
    receiver = await TestDaemon.create({
      name: R,
      accept: 'all',
      extra: { inboxPerPeer: true, limits: { maxFileSize: 1000, maxOfferBytes: 5000, connectionsPerMinute: 20 } },
    });
    await Promise.all([sender.start(), receiver.start()]);
    await sender.waitForPeer(R);
  });
  after(async () => Promise.all([sender?.destroy(), receiver?.destroy()]));

  it('files land in a per-peer folder', async () => {
    const f = join(sender.dir, 'small.txt');
    await writeFile(f, 'small');
    assert.equal((await sender.cli(['send', R, f])).code, 0);
    assert.equal(await sha256File(join(receiver.inbox, S, 'small.txt')), await sha256File(f));
  });

  it('a file over maxFileSize and an offer over maxOfferBytes are refused with OFFER_TOO_LARGE', async () => {
    const big = join(sender.dir, 'big.bin');
    await writeFile(big, Buffer.alloc(2000));
    const r1 = await sender.cli(['send', R, big, '--json']);
    assert.equal(r1.code, 65);
    assert.equal(JSON.parse(r1.stdout).transfer.error.code, 'OFFER_TOO_LARGE');
    const many = [1, 2, 3, 4, 5, 6].map((i) => join(sender.dir, `part${i}.bin`));
    for (const m of many) await writeFile(m, Buffer.alloc(900));
    const r2 = await sender.cli(['send', R, ...many, '--json']);
    assert.equal(JSON.parse(r2.stdout).transfer.error.code, 'OFFER_TOO_LARGE');
    assert.ok(!existsSync(join(receiver.inbox, S, 'big.bin')));
  });

  it('an offer that would not fit on the disk is refused with INSUFFICIENT_SPACE and says how much', async () => {
    await receiver.stop();
    const { readFile } = await import('node:fs/promises');
    const cfg = JSON.parse(await readFile(receiver.configPath, 'utf8'));
    cfg.limits.minFreeSpace = Number.MAX_SAFE_INTEGER - 10_000;
    await writeFile(receiver.configPath, JSON.stringify(cfg));
    await receiver.start();
    await sender.waitForPeer(R);
    const f = join(sender.dir, 'nofit.txt');
    await writeFile(f, 'x');
    const r = await sender.cli(['send', R, f]);
    assert.equal(r.code, 73, r.stderr);
    // The reserve is what refuses it, and the message names it and the key that sets it.
    assert.match(r.stderr, /no room for this offer: .* needed and .* free on its disk, but .* must stay free \(its limits\.minFreeSpace reserve/);
  });

  it('too many connections from one address in a minute are dropped before TLS', async () => {
    const me = await receiver.json<{ id: string; port: number }>(['id']);
    const results = [];
    for (let i = 0; i < 25; i++) results.push(await sender.cli(['send', `127.0.0.1:${me.port}`, join(sender.dir, 'nofit.txt'), '--json']));
    const codes = results.map((r) => JSON.parse(r.stdout).transfer?.error?.code ?? JSON.parse(r.stdout).error?.code);
    assert.ok(codes.filter((c) => c === 'PEER_UNREACHABLE' || c === 'TLS_FAILED' || c === 'CONNECTION_LOST').length >= 4, codes.join());
    assert.equal((await receiver.cli(['status'])).code, 0, 'the daemon is unharmed');
  });
});

describe('impostors and the control socket', { timeout: 120_000 }, () => {
  const A = `amy-${tag}`;
  const B = `bo-${tag}`;
  let amy: TestDaemon;
  let bo: TestDaemon;
  let fake: TestDaemon;

  before(async () => {
    amy = await TestDaemon.create({ name: A });
    bo = await TestDaemon.create({ name: B });
    fake = await TestDaemon.create({ name: B, accept: 'all' });
    await Promise.all([amy.start(), bo.start()]);
    await amy.waitForPeer(B);
    assert.equal((await amy.cli(['trust', B])).code, 0);
    assert.equal((await bo.cli(['trust', await amy.id(), '--name', A])).code, 0);
    await fake.start();
  });
  after(async () => Promise.all([amy?.destroy(), bo?.destroy(), fake?.destroy()]));

  it('a peer announcing a trusted name with another key is flagged and never gets its files', async () => {
    const fakeId = await fake.id();
    await waitFor(async () => (await amy.json<{ peers: PeerJson[] }>(['peers'])).peers.some((x) => x.id === fakeId), 15_000, 'the impostor to show');
    const { peers } = await amy.json<{ peers: PeerJson[] }>(['peers']);
    assert.equal(peers.find((x) => x.id === fakeId)?.impersonates, B);
    assert.equal(peers.find((x) => x.name === B && x.trusted)?.impersonates, null);
    const human = await amy.cli(['peers']);
    assert.match(human.stdout, /NOT your trusted/);
    const f = join(amy.dir, 'for-bo.txt');
    await writeFile(f, 'only for the real one');
    const r = await amy.cli(['send', B, f]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(bo.inbox, 'for-bo.txt')));
    assert.ok(!existsSync(join(fake.inbox, 'for-bo.txt')));
  });

  it('a control socket in a directory others may write is not used', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2pd-sock-'));
    try {
      await chmod(dir, 0o777);
      const cfgPath = join(dir, 'config.json');
      await writeFile(
        cfgPath,
        JSON.stringify({ stateDir: join(dir, 'state'), controlSocket: join(dir, 'control.sock'), inbox: join(dir, 'in'), interfaces: ['lo'], port: 0 }),
      );
      const d = await import('../helpers/daemons.js');
      const daemon = await d.cli(['daemon', '--config', cfgPath], { timeoutMs: 20_000 });
      assert.equal(daemon.code, 77, daemon.stdout + daemon.stderr);
      const client = await d.cli(['status', '--json', '--config', cfgPath]);
      assert.equal(client.code, 77);
      assert.equal(JSON.parse(client.stdout).error.code, 'CONTROL_SOCKET_INSECURE');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
