/**
 * Sending to several peers at once, with three real daemons on loopback: `send a,b`, `--group`,
 * `--all-trusted`, names resolved before anything is sent, one peer offline (the others finish and
 * the exit status says partial), and an outbox `@group/` folder that waits for every member.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemons.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';

const tag = randomBytes(2).toString('hex');
const S = `sam-${tag}`;
const B = `bea-${tag}`;
const C = `cal-${tag}`;
const fast = {
  delivery: { afterSend: 'move', stableSeconds: 1, giveUpHours: 0 },
  schedules: { outboxRescan: '*/1 * * * * *', retry: '*/1 * * * * *' },
};

interface TransferJson {
  id: string;
  state: string;
  peer: { id: string | null; name: string };
  error: { code: string } | null;
}
interface ManyJson {
  transfers: TransferJson[];
  outcome: string;
}
interface StatusJson {
  transfers: TransferJson[];
  outbox: Array<{ peer: string; path: string; members?: Array<{ id: string; name: string; state: string }> }>;
}

describe('sending to several peers', { timeout: 300_000 }, () => {
  let sam: TestDaemon;
  let bea: TestDaemon;
  let cal: TestDaemon;
  let data: string;
  const ids: Record<string, string> = {};

  before(async () => {
    data = await mkdtemp(join(tmpdir(), 'p2pd-fan-'));
    sam = await TestDaemon.create({ name: S, extra: fast });
    bea = await TestDaemon.create({ name: B });
    cal = await TestDaemon.create({ name: C });
    await Promise.all([sam.start(90_000), bea.start(90_000), cal.start(90_000)]);
    await Promise.all([sam.waitForPeer(B, 60_000), sam.waitForPeer(C, 60_000), bea.waitForPeer(S, 60_000), cal.waitForPeer(S, 60_000)]);
    for (const d of [bea, cal]) assert.equal((await d.cli(['trust', S])).code, 0);
    for (const n of [B, C]) assert.equal((await sam.cli(['trust', n])).code, 0);
    ids[B] = await bea.id();
    ids[C] = await cal.id();
  });

  after(async () => {
    await Promise.all([sam?.destroy(), bea?.destroy(), cal?.destroy()]);
    if (data) await rm(data, { recursive: true, force: true });
  });

  const file = async (name: string, size = 300_000): Promise<{ path: string; hash: string }> => {
    const path = join(data, name);
    await writeRandomFile(path, size);
    return { path, hash: await sha256File(path) };
  };
  const arrived = async (d: TestDaemon, name: string, hash: string): Promise<boolean> =>
    existsSync(join(d.inbox, name)) && (await sha256File(join(d.inbox, name))) === hash;

  it('send a,b: one transfer per peer, every file verified at both, outcome done, exit 0', async () => {
    const f = await file('ab.bin');
    const r = await sam.cli(['send', `${B},${C}`, f.path, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as ManyJson;
    assert.equal(doc.outcome, 'done');
    assert.deepEqual(
      doc.transfers.map((t) => [t.peer.id, t.state]),
      [
        [ids[B], 'done'],
        [ids[C], 'done'],
      ],
    );
    assert.notEqual(doc.transfers[0]!.id, doc.transfers[1]!.id);
    assert.ok(await arrived(bea, 'ab.bin', f.hash));
    assert.ok(await arrived(cal, 'ab.bin', f.hash));
  });

  it('an unknown name among several is an error before anything is sent', async () => {
    const f = await file('none.bin');
    const before = (await sam.json<StatusJson>(['status'])).transfers.length;
    const r = await sam.cli(['send', `${B},nobody-${tag}`, f.path, '--json']);
    assert.notEqual(r.code, 0);
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'PEER_NOT_FOUND');
    assert.equal((await sam.json<StatusJson>(['status'])).transfers.length, before);
    const g = await sam.cli(['send', '--group', `nogroup-${tag}`, f.path, '--json']);
    assert.equal((JSON.parse(g.stdout) as { error: { code: string } }).error.code, 'GROUP_NOT_FOUND');
  });

  it('groups: add by name (stored by id), list, send --group, send --all-trusted', async () => {
    const add = await sam.json<{ group: { name: string; members: Array<{ id: string }> } }>(['group', 'add', 'lab', B, C]);
    assert.deepEqual(
      add.group.members.map((m) => m.id),
      [ids[B], ids[C]],
    );
    const list = await sam.json<{ groups: Array<{ name: string; members: Array<{ id: string; name: string }> }> }>(['group', 'list']);
    assert.deepEqual(
      list.groups.map((g) => [g.name, g.members.map((m) => m.name)]),
      [['lab', [B, C]]],
    );
    assert.ok(existsSync(join(sam.dir, 'outbox', '@lab')), 'the group gets its outbox folder');

    const g = await file('group.bin');
    const r = await sam.cli(['send', '--group', 'lab', g.path, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as ManyJson).outcome, 'done');
    assert.ok(await arrived(bea, 'group.bin', g.hash));
    assert.ok(await arrived(cal, 'group.bin', g.hash));

    const t = await file('trusted.bin');
    const human = await sam.cli(['send', '--all-trusted', t.path]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /2 of 2 peers got every file/);
    assert.ok(await arrived(bea, 'trusted.bin', t.hash));
    assert.ok(await arrived(cal, 'trusted.bin', t.hash));
  });

  it('outbox/@lab/: the item goes to every member, then to .sent', async () => {
    const name = 'drop.bin';
    const src = await file(name);
    await copyFile(src.path, join(sam.dir, 'outbox', '@lab', name));
    await waitFor(() => existsSync(join(sam.dir, 'outbox', '.sent', '@lab', name)), 60_000, 'the @lab item to reach .sent');
    assert.ok(await arrived(bea, name, src.hash));
    assert.ok(await arrived(cal, name, src.hash));
  });

  it('one peer offline: the other finishes, outcome partial, exit status PARTIAL (3); the outbox item waits for it', async () => {
    await cal.stop();
    const f = await file('half.bin');
    const started = Date.now();
    const r = await sam.cli(['send', `${B},${C}`, f.path, '--json'], 60_000);
    assert.equal(r.code, 3, r.stderr);
    const doc = JSON.parse(r.stdout) as ManyJson;
    assert.equal(doc.outcome, 'partial');
    assert.equal(doc.transfers[0]!.state, 'done');
    assert.notEqual(doc.transfers[1]!.state, 'done');
    assert.ok(await arrived(bea, 'half.bin', f.hash));
    assert.ok(Date.now() - started < 30_000, 'the offline peer did not hold the send back');

    // All offline: exit 1 (SEND_ALL_FAILED), distinct from partial.
    const solo = await sam.cli(['send', `${C},${C}`, f.path, '--json'], 60_000);
    assert.equal(solo.code, 1, solo.stderr);
    assert.equal((JSON.parse(solo.stdout) as ManyJson).outcome, 'failed');

    const name = 'later.bin';
    const src = await file(name);
    await copyFile(src.path, join(sam.dir, 'outbox', '@lab', name));
    await waitFor(async () => arrived(bea, name, src.hash), 60_000, 'the online member to get the @lab item');
    await waitFor(
      async () => {
        const s = await sam.json<StatusJson>(['status']);
        const item = s.outbox.find((o) => o.path === `@lab/${name}`);
        const states = Object.fromEntries((item?.members ?? []).map((m) => [m.id, m.state]));
        return states[ids[B]!] === 'done' && states[ids[C]!] === 'pending';
      },
      30_000,
      'status to show bea done and cal pending',
    );
    assert.ok(!existsSync(join(sam.dir, 'outbox', '.sent', '@lab', name)), 'not in .sent while a member lacks it');

    await cal.start(90_000);
    await waitFor(() => existsSync(join(sam.dir, 'outbox', '.sent', '@lab', name)), 90_000, 'the item to reach .sent once cal is back');
    assert.ok(await arrived(cal, name, src.hash));
    assert.deepEqual(
      (await readdir(bea.inbox)).filter((n) => n.startsWith('later')),
      [name],
      'bea got it once, not again',
    );
  });
});
