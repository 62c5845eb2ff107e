/** Sending to several peers: groups in the state, resolving targets, outcomes and exit statuses, `@group` outbox items. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../../src/store/state.js';
import { silentLogger } from '../../src/log.js';
import { PeerTable } from '../../src/discovery/peer-table.js';
import { fanoutOutcome, sendTargets } from '../../src/daemon/fanout.js';
import { groupOutboxSender } from '../../src/daemon/outbox-groups.js';
import { fanoutExit, splitPeers } from '../../src/cli/commands/send-many.js';
import { MultiProgress } from '../../src/cli/multi-progress.js';
import type { TransferView } from '../../src/control/views.js';
import type { TransferState } from '../../src/transfer/records.js';
import { runCli, type CliDeps } from '../../src/cli/index.js';
import { FakeControl, transferView } from '../helpers/fake-control.js';
import { EXIT, P2pdError } from '../../src/errors.js';
import type { OutboxSender, SendOutcome } from '../../src/outbox/index.js';

const id = (c: string): string => c.repeat(51) + 'Q';
const [A, B, C, SELF] = [id('A'), id('B'), id('C'), id('D')];

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pd-fanout-'));
  try {
    await fn(dir);
  } finally {
    // Writes the stores started in the background must end before their directory goes.
    await Promise.all(opened.splice(0).map((st) => st.flush().catch(() => undefined)));
    await rm(dir, { recursive: true, force: true });
  }
}

const opened: StateStore[] = [];
const openState = (dir: string): StateStore => {
  const st = new StateStore({ logger: silentLogger() }, { dir, historySize: 10 });
  opened.push(st);
  return st;
};

function world(dir: string): { state: StateStore; peers: PeerTable } {
  const state = openState(dir);
  const peers = new PeerTable();
  peers.seen({ id: A, name: 'alice', addresses: [{ host: '10.0.0.1', port: 1 }], via: 'test' });
  peers.seen({ id: B, name: 'bob', addresses: [{ host: '10.0.0.2', port: 1 }], via: 'test' });
  peers.seen({ id: C, name: 'bob', addresses: [{ host: '10.0.0.3', port: 1 }], via: 'test' });
  return { state, peers };
}

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof P2pdError);
    return err.code;
  }
  assert.fail('no error');
};

describe('groups in the state', () => {
  it('are written at once, kept across instances, and removed with their last member', async () => {
    await withDir(async (dir) => {
      const s = openState(dir);
      assert.equal(s.setGroup('lab', [A, B, A])?.members.length, 2);
      await s.flush();
      const again = openState(dir);
      assert.deepEqual(again.getGroup('lab')?.members, [A, B]);
      assert.equal(again.setGroup('lab', []), undefined);
      await again.flush();
      assert.equal(openState(dir).getGroup('lab'), undefined);
      assert.deepEqual(openState(dir).groups(), []);
    });
  });
});

describe('sendTargets', () => {
  it('resolves every name before anything happens, and refuses an ambiguous or unknown one', async () => {
    await withDir(async (dir) => {
      const { state, peers } = world(dir);
      const deps = { state, peers, selfId: () => SELF };
      assert.deepEqual(sendTargets({ peers: ['alice', `bob#${C.slice(0, 5)}`, 'alice'] }, deps), [A, C]);
      assert.equal(
        code(() => sendTargets({ peers: ['alice', 'bob'] }, deps)),
        'PEER_AMBIGUOUS',
      );
      assert.equal(
        code(() => sendTargets({ peers: ['alice', 'zed'] }, deps)),
        'PEER_NOT_FOUND',
      );
      assert.equal(
        code(() => sendTargets({ group: 'lab' }, deps)),
        'GROUP_NOT_FOUND',
      );
      assert.equal(
        code(() => sendTargets({}, deps)),
        'USAGE',
      );
      assert.equal(
        code(() => sendTargets({ group: 'lab', allTrusted: true }, deps)),
        'USAGE',
      );
      assert.equal(
        code(() => sendTargets({ allTrusted: true }, deps)),
        'PEER_NOT_FOUND',
      );
    });
  });

  it('takes a group by its stored ids and --all-trusted from the trusted list', async () => {
    await withDir(async (dir) => {
      const { state, peers } = world(dir);
      state.setGroup('lab', [C, A]);
      state.trust({ id: B, name: 'bobby' });
      const deps = { state, peers, selfId: () => SELF };
      assert.deepEqual(sendTargets({ group: 'lab' }, deps), [C, A]);
      assert.deepEqual(sendTargets({ allTrusted: true }, deps), [B]);
      // A peer that now announces a member's name does not join: ids were stored.
      peers.seen({ id: SELF.replace('D', 'E'), name: 'alice', addresses: [{ host: '10.0.0.9', port: 1 }], via: 'test' });
      assert.deepEqual(sendTargets({ group: 'lab' }, deps), [C, A]);
      assert.equal(
        code(() => sendTargets({ group: 'lab' }, { ...deps, selfId: () => A })),
        'USAGE',
      );
    });
  });
});

describe('outcome of a send to several peers', () => {
  it('is done only when every transfer is, failed when none is', () => {
    const t = (...states: TransferState[]) => states.map((state) => ({ state }));
    assert.equal(fanoutOutcome(t('done', 'done')), 'done');
    assert.equal(fanoutOutcome(t('done', 'failed')), 'partial');
    assert.equal(fanoutOutcome(t('done', 'cancelled', 'done')), 'partial');
    assert.equal(fanoutOutcome(t('failed', 'cancelled')), 'failed');
    assert.equal(fanoutOutcome([]), 'failed');
    // A peer that declined a file did not get every file.
    assert.equal(fanoutOutcome([{ state: 'done' }, { state: 'done', filesDeclined: 1 }]), 'partial');
  });

  it('maps to exit statuses: 0, PARTIAL (3) and FAILURE (1)', () => {
    assert.equal(fanoutExit('done'), 0);
    assert.equal(fanoutExit('queued'), 0);
    assert.equal(fanoutExit('partial'), EXIT.PARTIAL);
    assert.equal(fanoutExit('failed'), EXIT.FAILURE);
    assert.notEqual(EXIT.PARTIAL, EXIT.FAILURE);
  });

  it('splits a,b,c and refuses empty names', () => {
    assert.deepEqual(splitPeers('bob, carol,dave'), ['bob', 'carol', 'dave']);
    assert.throws(
      () => splitPeers('bob,,carol'),
      (e: unknown) => e instanceof P2pdError && e.code === 'USAGE',
    );
    assert.throws(
      () => splitPeers('bob,'),
      (e: unknown) => e instanceof P2pdError && e.code === 'USAGE',
    );
  });
});

describe('MultiProgress', () => {
  const view = (id: string, name: string, state: string, done: number): TransferView =>
    ({
      id,
      peer: { id: null, name },
      state,
      bytesDone: done,
      bytesTotal: 100,
      bytesPerSecond: 0,
      filesDone: 0,
      filesTotal: 1,
      resumedFrom: 0,
      attempts: 1,
      error: null,
      nextAttemptAt: null,
    }) as unknown as TransferView;

  it('draws one line per peer plus a total, redrawn in place', () => {
    let written = '';
    const out = { isTTY: true, columns: 100, write: (t: string) => ((written += t), true) };
    const bars = new MultiProgress(out as never);
    bars.update(view('t1', 'bob', 'sending', 50));
    bars.update(view('t2', 'carol', 'done', 100));
    assert.match(written, /bob/);
    assert.match(written, /carol/);
    assert.match(written, /total: 1\/2 peers done/);
    assert.ok(written.includes('\x1b[2A'), 'the second draw goes back over the two lines of the first');
    assert.equal(MultiProgress.totalText([view('a', 'x', 'failed', 0), view('b', 'y', 'done', 100)]).startsWith('total: 1/2 peers done, 1 failed'), true);
  });

  it('is silent when stderr is not a terminal', () => {
    let written = '';
    const bars = new MultiProgress({ isTTY: false, write: (t: string) => ((written += t), true) } as never);
    bars.update(view('t1', 'bob', 'sending', 50));
    assert.equal(written, '');
  });
});

/** An outbox sender that succeeds for the peers online and records whom it sent to. */
function recordingSender(onlineAtFirst: string[]): { online: Set<string>; calls: string[]; inner: OutboxSender } {
  const online = new Set(onlineAtFirst);
  const calls: string[] = [];
  const inner: OutboxSender = {
    async send(peer): Promise<SendOutcome> {
      calls.push(peer);
      return { ok: true, transferId: `t-${peer.slice(0, 1)}` };
    },
    isOnline: (peer) => online.has(peer),
  };
  return { online, calls, inner };
}

describe('outbox @group items', () => {
  it('are done only when every member has them; members that have them are not sent again', async () => {
    await withDir(async (dir) => {
      const { state, peers } = world(dir);
      state.setGroup('lab', [A, B]);
      const { online, calls, inner } = recordingSender([A]);
      const sender = groupOutboxSender(inner, { state, peers }, { dir });
      await mkdir(join(dir, '@lab'));
      const abs = join(dir, '@lab', 'x.txt');
      await writeFile(abs, 'x');
      const signal = new AbortController().signal;
      assert.equal(sender.isOnline('@lab'), true);
      const first = await sender.send('@lab', [abs], { signal });
      assert.equal(first.ok, false);
      assert.deepEqual(calls, [A]);
      // `members` is keyed by the path relative to the outbox dir.
      assert.deepEqual(
        sender.members('@lab/x.txt')?.map((m) => [m.id, m.state]),
        [
          [A, 'done'],
          [B, 'pending'],
        ],
      );
      online.delete(A);
      assert.equal(sender.isOnline('@lab'), false);
      online.add(B);
      const second = await sender.send('@lab', [abs], { signal });
      assert.equal(second.ok, true);
      assert.deepEqual(calls, [A, B]);
      assert.equal(sender.members('bob/x.txt'), undefined);
      const missing = await sender.send('@nope', [abs], { signal });
      assert.equal(missing.ok === false && missing.code, 'GROUP_NOT_FOUND');
    });
  });

  it('remember across a restart which members have an item; a changed item starts over', async () => {
    await withDir(async (dir) => {
      const { state, peers } = world(dir);
      state.setGroup('lab', [A, B]);
      const { online, calls, inner } = recordingSender([A]);
      await mkdir(join(dir, '@lab'));
      const abs = join(dir, '@lab', 'x.txt');
      await writeFile(abs, 'x');
      const signal = new AbortController().signal;
      assert.equal((await groupOutboxSender(inner, { state, peers }, { dir }).send('@lab', [abs], { signal })).ok, false);
      await state.flush();
      // A new daemon: a fresh store read from the same file, a fresh sender.
      const again = openState(dir);
      const sender = groupOutboxSender(inner, { state: again, peers }, { dir });
      assert.deepEqual(
        sender.members('@lab/x.txt')?.map((m) => m.state),
        ['done', 'pending'],
      );
      online.add(B);
      assert.equal((await sender.send('@lab', [abs], { signal })).ok, true);
      assert.deepEqual(calls, [A, B], 'alice, who had it, was not sent it again');
      assert.equal(again.groupDelivery(abs), undefined, 'a delivered item is forgotten');
      // An item changed after alice got it goes to everyone again.
      online.delete(B);
      assert.equal((await sender.send('@lab', [abs], { signal })).ok, false);
      await writeFile(abs, 'changed, longer');
      online.add(B);
      assert.equal((await sender.send('@lab', [abs], { signal })).ok, true);
      assert.deepEqual(calls, [A, B, A, A, B]);
    });
  });
});

describe('the CLI routes a send to several peers to send-many', () => {
  class Out {
    text = '';
    isTTY = false;
    columns = 100;
    write(chunk: string): boolean {
      this.text += chunk;
      return true;
    }
  }
  const many = { transfers: [transferView({ state: 'done' }), transferView({ id: 't2', state: 'failed' })], skipped: [], outcome: 'partial' };

  it('a,b / --group / --all-trusted become one send-many request; a single peer stays `send`', async () => {
    const fake = await FakeControl.start();
    try {
      fake.answer = (req, reply) => reply({ result: req.method === 'send-many' ? many : { transfer: transferView({ state: 'done' }), skipped: [] } });
      const file = join(fake.dir, 'a.txt');
      await writeFile(file, 'x');
      const cli = async (argv: string[]): Promise<number> => {
        const deps = {
          stdout: new Out(),
          stderr: new Out(),
          env: {},
          cwd: fake.dir,
          home: fake.dir,
          hostname: 'h',
          version: '0',
          platform: 'linux',
          execPath: process.execPath,
          mainScript: 'main.js',
          uid: 0,
          userName: 'u',
          runDaemon: async () => 0,
        };
        return runCli([...argv, '--config', fake.configPath], deps as unknown as CliDeps);
      };
      assert.equal(await cli(['send', 'bob,carol', 'a.txt', '--json']), EXIT.PARTIAL);
      assert.deepEqual(fake.requests.at(-1), { method: 'send-many', params: { peers: ['bob', 'carol'], paths: [file], detach: false, queue: false } });
      assert.equal(await cli(['send', '--group', 'lab', 'a.txt']), EXIT.PARTIAL);
      assert.deepEqual(fake.requests.at(-1)?.params, { group: 'lab', paths: [file], detach: false, queue: false });
      assert.equal(await cli(['send', 'a.txt', '--all-trusted']), EXIT.PARTIAL);
      assert.deepEqual(fake.requests.at(-1)?.params, { allTrusted: true, paths: [file], detach: false, queue: false });
      const before = fake.requests.length;
      assert.equal(await cli(['send', '--group', 'lab', '--all-trusted', 'a.txt']), EXIT.USAGE);
      assert.equal(await cli(['send', 'bob,,carol', 'a.txt']), EXIT.USAGE);
      assert.equal(fake.requests.length, before, 'a usage error sends nothing');
      assert.equal(await cli(['send', 'bob', 'a.txt']), 0);
      assert.equal(fake.requests.at(-1)?.method, 'send');
    } finally {
      await fake.stop();
    }
  });
});
