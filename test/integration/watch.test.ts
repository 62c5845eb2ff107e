/**
 * The `watch` event stream against two real daemons on loopback: a watcher on bob sees alice
 * appear, her offer wait and end, the transfer's progress and end, and after reconnecting with
 * its last `seq` it gets only what it missed, then live events again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import type { WatchStreamEvents } from '../../src/control/events.js';
import { spawn } from 'node:child_process';
import { MAIN, TestDaemon, waitFor } from '../helpers/daemons.js';
import { writeRandomFile } from '../helpers/files.js';

const tag = randomBytes(2).toString('hex');
const A = `alice-${tag}`;
const B = `bob-${tag}`;

type Got = { event: string; data: Record<string, unknown> & { seq?: number } };

/** Runs `watch` on a client until aborted, collecting its events. */
function watch(client: ControlClient, params: { since?: number; epoch?: string }) {
  const ac = new AbortController();
  const got: Got[] = [];
  const done = client
    .request('watch', params, {
      signal: ac.signal,
      onEvent: (event, data) => got.push({ event, data: data as unknown as Got['data'] }),
    })
    .catch(() => null);
  return { got, stop: async () => (ac.abort(), await done) };
}

/** Runs `p2pd …args` until it has printed one line (a watch never ends by itself), then stops it. */
function firstLine(args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`p2pd ${args.join(' ')} printed no line in time`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(out.slice(0, nl));
    });
  });
}

function find(got: Got[], event: keyof WatchStreamEvents, match: (d: Record<string, unknown>) => boolean = () => true): Got | undefined {
  return got.find((g) => g.event === event && match(g.data));
}

describe('watch', { timeout: 120_000 }, () => {
  let alice: TestDaemon;
  let bob: TestDaemon;
  let data: string;
  let client: ControlClient;

  before(async () => {
    data = await mkdtemp(join(tmpdir(), 'p2pd-data-'));
    alice = await TestDaemon.create({ name: A });
    bob = await TestDaemon.create({ name: B, extra: { accept: 'ask' } });
    await Promise.all([alice.start(), bob.start()]);
    client = new ControlClient({ socketPath: join(bob.dir, 'state', 'control.sock'), uid: process.getuid?.() ?? -1 });
  });

  after(async () => {
    await Promise.all([alice?.destroy(), bob?.destroy()]);
    await rm(data, { recursive: true, force: true });
  });

  it('streams peers, offers and transfers, and resumes after a reconnect', async () => {
    const w = watch(client, {});
    await waitFor(() => w.got.length > 0, 10_000, 'the snapshot');
    const snapshot = w.got[0]!;
    assert.equal(snapshot.event, 'snapshot');
    const epoch = snapshot.data.epoch as string;
    assert.equal(typeof epoch, 'string');

    const aliceId = await alice.id();
    await waitFor(
      () =>
        find(w.got, 'peer', (d) => (d.peer as { id: string }).id === aliceId) !== undefined ||
        (snapshot.data.peers as Array<{ id: string }>).some((p) => p.id === aliceId),
      20_000,
      'alice to appear',
    );
    await alice.waitForPeer(B);

    const file = join(data, 'w.bin');
    await writeRandomFile(file, 3 * 1024 * 1024);
    const sent = await alice.json<{ transfer: { id: string } }>(['send', B, file, '--detach']);
    const id = sent.transfer.id;
    await waitFor(() => find(w.got, 'offer', (d) => (d.offer as { id: string }).id === id) !== undefined, 20_000, 'the offer event');
    await client.request('accept', { id });
    await waitFor(() => find(w.got, 'transfer-end', (d) => (d.transfer as { id: string }).id === id) !== undefined, 30_000, 'the transfer to end');
    await waitFor(() => find(w.got, 'offer-end', (d) => d.id === id) !== undefined, 5_000, 'the offer to end');

    const end = find(w.got, 'transfer-end', (d) => (d.transfer as { id: string }).id === id)!;
    assert.equal((end.data.transfer as { state: string }).state, 'done');
    assert.ok(find(w.got, 'transfer', (d) => (d.transfer as { id: string; state: string }).id === id && (d.transfer as { state: string }).state === 'waiting'));
    const seqs = w.got.slice(1).map((g) => g.data.seq!);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      'seq rises',
    );
    assert.equal(new Set(seqs).size, seqs.length, 'no seq twice');
    const last = seqs[seqs.length - 1]!;
    await w.stop();

    // Something happens while nobody watches; the resumed stream starts with it, no snapshot.
    await bob.cli(['trust', A]);
    const again = watch(client, { since: last, epoch });
    await waitFor(
      () =>
        find(again.got, 'peer', (d) => (d.peer as { id: string; trusted: boolean }).id === aliceId && (d.peer as { trusted: boolean }).trusted) !== undefined,
      10_000,
      'the trust change',
    );
    assert.equal(find(again.got, 'snapshot'), undefined);
    assert.equal(again.got[0]!.data.seq, last + 1);
    await again.stop();

    // From another run's epoch: a reset, then a snapshot.
    const stale = watch(client, { since: last, epoch: 'not-this-run' });
    await waitFor(() => stale.got.length >= 2, 10_000, 'reset and snapshot');
    assert.deepEqual(
      stale.got.slice(0, 2).map((g) => g.event),
      ['reset', 'snapshot'],
    );
    await stale.stop();
  });

  it('`p2pd watch` prints the stream: JSON lines with --json, sentences without', async () => {
    const first = JSON.parse(await firstLine(['watch', '--json', '--config', bob.configPath])) as { event: string; data: { peers: unknown[] } };
    assert.equal(first.event, 'snapshot');
    assert.ok(Array.isArray(first.data.peers));
    assert.match(await firstLine(['watch', '--config', bob.configPath]), /now: \d+ peers online/);
  });
});
