/**
 * Two real daemons on loopback, found over real mDNS, driven through the real CLI: discovery,
 * trust, refusal of an untrusted sender, directories, empty and large files, name conflicts,
 * status in both directions, cancellation, concurrent transfers, and goodbyes on shutdown.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, truncate, writeFile, chmod, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemons.js';
import { hashTree, sha256File, writeRandomFile, writeTree } from '../helpers/files.js';

interface TransferJson {
  id: string;
  direction: 'out' | 'in';
  state: string;
  peer: { id: string | null; name: string };
  filesTotal: number;
  filesDone: number;
  bytesDone: number;
  bytesTotal: number;
  error: { code: string } | null;
}

// Unique names: other p2pd daemons on this machine's loopback (a developer's own) must not collide.
const tag = randomBytes(2).toString('hex');
const A = `alice-${tag}`;
const B = `bob-${tag}`;

describe('two daemons on one machine', { timeout: 300_000 }, () => {
  let alice: TestDaemon;
  let bob: TestDaemon;
  let data: string;

  before(async () => {
    data = await mkdtemp(join(tmpdir(), 'p2pd-data-'));
    alice = await TestDaemon.create({ name: A });
    bob = await TestDaemon.create({ name: B });
    await Promise.all([alice.start(), bob.start()]);
  });

  after(async () => {
    await Promise.all([alice?.destroy(), bob?.destroy()]);
    await rm(data, { recursive: true, force: true });
  });

  it('each sees the other over mDNS, with its id, addresses and trust state', async () => {
    await Promise.all([alice.waitForPeer(B), bob.waitForPeer(A)]);
    const bobId = await bob.id();
    const { peers } = await alice.json<{ peers: Array<Record<string, unknown>> }>(['peers']);
    const p = peers.find((x) => x.name === B)!;
    assert.equal(p.id, bobId);
    assert.equal(p.shortId, bobId.slice(0, 7));
    assert.equal(p.trusted, false);
    assert.equal(p.online, true);
    assert.ok(Array.isArray(p.addresses) && (p.addresses as string[]).some((a) => a.startsWith('127.0.0.1:')));
    assert.equal(typeof p.lastSeen, 'string');
    const human = await alice.cli(['peers']);
    assert.equal(human.code, 0);
    assert.ok(human.stdout.includes(B));
  });

  it('p2pd id shows the name and a fingerprint of the identity', async () => {
    const me = await alice.json<{ name: string; id: string; fingerprint: string; shortId: string; port: number }>(['id']);
    assert.equal(me.name, A);
    assert.match(me.id, /^[A-Z2-7]{52}$/);
    assert.equal(me.fingerprint.replace(/-/g, ''), me.id);
    assert.ok(me.port > 0);
    const human = await alice.cli(['id']);
    assert.ok(human.stdout.includes(me.fingerprint));
  });

  it('an untrusted sender is refused with a message that says how to fix it', async () => {
    const f = join(data, 'refused.txt');
    await writeFile(f, 'not yet');
    const r = await alice.cli(['send', B, f]);
    assert.equal(r.code, 77, r.stderr);
    assert.ok(r.stderr.includes(`${B} does not accept files from ${A} yet: on ${B} run \`p2pd trust ${A}\``), r.stderr);
    assert.deepEqual(
      (await readdir(bob.inbox)).filter((n) => !n.startsWith('.')),
      [],
    );
    const j = await alice.cli(['send', B, f, '--json']);
    assert.equal(j.code, 77);
    const out = JSON.parse(j.stdout) as { transfer: TransferJson };
    assert.equal(out.transfer.state, 'failed');
    assert.equal(out.transfer.error?.code, 'PEER_NOT_TRUSTED');
  });

  it('trust pins the peer and shows its full fingerprint', async () => {
    const aliceId = await alice.id();
    const r = await bob.cli(['trust', A]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.replace(/-/g, '').includes(aliceId));
    const { peers } = await bob.json<{ peers: Array<{ name: string; trusted: boolean }> }>(['peers']);
    assert.equal(peers.find((p) => p.name === A)?.trusted, true);
    const again = await bob.json<{ alreadyTrusted: boolean }>(['trust', A]);
    assert.equal(again.alreadyTrusted, true);
    // bob sends back to alice too, so alice trusts bob
    assert.equal((await alice.cli(['trust', B])).code, 0);
  });

  it('sends a directory of nested files, an empty file and an empty folder, keeping structure, mode and mtime', async () => {
    const root = join(data, 'project');
    await writeTree(root, {
      'README.md': '# hello\n',
      'src/main.ts': 'console.log(1)\n',
      'src/lib/deep/a.bin': Buffer.alloc(70_000, 7),
      'empty.txt': '',
      'docs/Café ☕.txt': 'unicode name\n',
    });
    await writeTree(join(root, 'empty-dir'), {});
    await chmod(join(root, 'src/main.ts'), 0o750);
    const mtime = new Date('2020-02-02T02:02:02Z');
    await utimes(join(root, 'README.md'), mtime, mtime);
    const r = await alice.cli(['send', B, root, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { transfer: TransferJson };
    assert.equal(out.transfer.state, 'done');
    assert.equal(out.transfer.filesDone, 5);
    assert.deepEqual(await hashTree(join(bob.inbox, 'project')), await hashTree(root));
    assert.equal((await stat(join(bob.inbox, 'project/src/main.ts'))).mode & 0o777, 0o750);
    assert.equal((await stat(join(bob.inbox, 'project/README.md'))).mtime.getTime(), mtime.getTime());
    assert.equal((await stat(join(bob.inbox, 'project/empty.txt'))).size, 0);
  });

  it('a name that exists lands as "name (1).ext"; nothing is overwritten', async () => {
    const f = join(data, 'note.txt');
    await writeFile(f, 'first');
    assert.equal((await alice.cli(['send', B, f])).code, 0);
    await writeFile(f, 'second');
    assert.equal((await alice.cli(['send', B, f])).code, 0);
    const names = (await readdir(bob.inbox)).filter((n) => n.startsWith('note'));
    assert.deepEqual(names.sort(), ['note (1).txt', 'note.txt']);
  });

  it('a file of several hundred MB arrives byte-identical (checked by hash)', async () => {
    const big = join(data, 'big.bin');
    await writeRandomFile(big, 300 * 1024 * 1024);
    const r = await alice.cli(['send', B, big], 180_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /verified/);
    assert.equal(await sha256File(join(bob.inbox, 'big.bin')), await sha256File(big));
    await rm(big);
  });

  it('status lists the transfers on both sides with the same id', async () => {
    const out = await alice.json<{ daemon: { name: string }; transfers: TransferJson[] }>(['status']);
    const inn = await bob.json<{ transfers: TransferJson[] }>(['status']);
    assert.equal(out.daemon.name, A);
    const sent = out.transfers.filter((t) => t.direction === 'out' && t.state === 'done');
    assert.ok(sent.length >= 4);
    for (const t of sent) {
      const seen = inn.transfers.find((x) => x.id === t.id);
      assert.ok(seen, `bob has transfer ${t.id}`);
      assert.equal(seen.direction, 'in');
      assert.equal(seen.state, 'done');
    }
    assert.ok(inn.transfers.some((t) => t.state === 'failed' && t.error?.code === 'PEER_NOT_TRUSTED'));
  });

  it('transfers run at once in both directions', async () => {
    const a = join(data, 'from-alice.bin');
    const b = join(data, 'from-bob.bin');
    await writeRandomFile(a, 20 * 1024 * 1024);
    await writeRandomFile(b, 20 * 1024 * 1024);
    const [ra, rb, rc] = await Promise.all([alice.cli(['send', B, a]), bob.cli(['send', A, b]), alice.cli(['send', B, b])]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    assert.equal(rc.code, 0, rc.stderr);
    assert.equal(await sha256File(join(bob.inbox, 'from-alice.bin')), await sha256File(a));
    assert.equal(await sha256File(join(alice.inbox, 'from-bob.bin')), await sha256File(b));
    assert.equal(await sha256File(join(bob.inbox, 'from-bob.bin')), await sha256File(b));
  });

  it('cancel stops a running transfer on both sides and leaves no file behind', async () => {
    const huge = join(data, 'huge.bin');
    await writeFile(huge, '');
    await truncate(huge, 8 * 1024 * 1024 * 1024); // sparse: reads are fast, the transfer takes a while
    const started = await alice.json<{ transfer: TransferJson }>(['send', B, huge, '--detach']);
    const id = started.transfer.id;
    await waitFor(
      async () => {
        const s = await bob.json<{ transfers: TransferJson[] }>(['status']);
        return s.transfers.some((t) => t.id === id && t.bytesDone > 0);
      },
      30_000,
      'data to flow',
    );
    const c = await bob.cli(['cancel', id]);
    assert.equal(c.code, 0, c.stderr);
    await waitFor(
      async () => {
        const s = await alice.json<{ transfers: TransferJson[] }>(['status']);
        const t = s.transfers.find((x) => x.id === id);
        return t !== undefined && t.state !== 'sending' && t.state !== 'connecting' && t.state !== 'queued' && t.state !== 'waiting';
      },
      30_000,
      'the sender to see the cancel',
    );
    const s = await alice.json<{ transfers: TransferJson[] }>(['status']);
    const t = s.transfers.find((x) => x.id === id)!;
    assert.equal(t.state, 'cancelled');
    assert.equal(t.error?.code, 'TRANSFER_CANCELLED');
    const r = await bob.json<{ transfers: TransferJson[] }>(['status']);
    assert.equal(r.transfers.find((x) => x.id === id)?.state, 'cancelled');
    assert.ok(!(await readdir(bob.inbox)).includes('huge.bin'));
    // What arrived is kept for a resume (r-*.part with its journal); nothing else stays behind.
    await waitFor(
      async () => (await readdir(join(bob.inbox, '.p2pd-partial'))).every((n) => /^[rt]-[0-9a-f]{40}\.(part|blocks|json)$/.test(n)),
      10_000,
      'plain partials to be removed',
    );
    const unknown = await alice.cli(['cancel', 'nosuchid']);
    assert.equal(unknown.code, 1);
    await rm(huge);
  });

  it('a missing source path is a clear local error (exit 66)', async () => {
    const r = await alice.cli(['send', B, join(data, 'does-not-exist')]);
    assert.equal(r.code, 66);
    assert.match(r.stderr, /does-not-exist/);
  });

  it('an unknown peer name is a clear error (exit 68)', async () => {
    const r = await alice.cli(['send', 'nobody', join(data, 'note.txt')]);
    assert.equal(r.code, 68);
    assert.match(r.stderr, /p2pd peers/);
  });

  it('host:port reaches a peer without mDNS, and the result names who answered', async () => {
    const me = await bob.json<{ id: string; port: number }>(['id']);
    const f = join(data, 'direct.txt');
    await writeFile(f, 'direct');
    const r = await alice.cli(['send', `127.0.0.1:${me.port}`, f, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { transfer: TransferJson };
    assert.equal(out.transfer.peer.id, me.id);
    assert.equal(await sha256File(join(bob.inbox, 'direct.txt')), await sha256File(f));
  });

  it('the control socket is private: mode 0600 in a 0700 directory', async () => {
    const sock = join(alice.dir, 'state', 'control.sock');
    assert.equal((await stat(sock)).mode & 0o777, 0o600);
    assert.equal((await stat(join(alice.dir, 'state'))).mode & 0o777, 0o700);
  });

  it('a second daemon on the same control socket refuses to start', async () => {
    const r = await alice.cli(['daemon'], 20_000);
    assert.equal(r.code, 75, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /DAEMON_ALREADY_RUNNING|already/);
    assert.equal((await alice.cli(['status'])).code, 0, 'the first daemon is unharmed');
  });

  it('a stopped daemon says goodbye: its peer drops it at once', async () => {
    const code = await bob.stop('SIGTERM');
    assert.equal(code, 0);
    await waitFor(
      async () => {
        const { peers } = await alice.json<{ peers: Array<{ name: string; online: boolean }> }>(['peers']);
        return !peers.some((p) => p.name === B && p.online);
      },
      4000,
      'alice to drop bob',
    );
    // Trusted peers stay listed while offline, and sending to them says they are offline.
    const { peers } = await alice.json<{ peers: Array<{ name: string; online: boolean; trusted: boolean }> }>(['peers']);
    assert.deepEqual(
      peers.filter((p) => p.name === B).map((p) => [p.online, p.trusted]),
      [[false, true]],
    );
    const r = await alice.cli(['send', B, join(data, 'note.txt')]);
    assert.equal(r.code, 69);
    assert.match(r.stderr, /not online/);
  });
});
