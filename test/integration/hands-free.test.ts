/**
 * The hands-free daemon: the outbox (slow writes, folders, offline peers, .sent and .failed, files
 * dropped while stopped), scheduled jobs observed through status, onReceive, SIGTERM with a
 * graceful drain and SIGHUP reload. Real daemons on loopback, driven through the real CLI.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile, utimes, truncate } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDaemon, sleep, waitFor } from '../helpers/daemons.js';
import { hashTree, sha256File, writeTree } from '../helpers/files.js';

const tag = randomBytes(2).toString('hex');
const A = `ann-${tag}`;
const B = `ben-${tag}`;
const fast = {
  delivery: { afterSend: 'move', stableSeconds: 1, giveUpHours: 0 },
  schedules: { outboxRescan: '*/1 * * * * *', retry: '*/1 * * * * *', cleanupPartials: '*/1 * * * * *', pruneHistory: '*/1 * * * * *' },
};

interface Status {
  transfers: Array<{ id: string; direction: string; state: string; peer: { name: string }; origin?: string }>;
  outbox: Array<{ peer: string; path: string; state: string; attempts: number; lastError: { code: string } | null }>;
  jobs: Array<{ name: string; schedule: string; runs: number; lastRunAt: string | null }>;
}

describe('hands-free: outbox, jobs, onReceive, signals', { timeout: 240_000 }, () => {
  let ann: TestDaemon;
  let ben: TestDaemon;
  let scratch: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'p2pd-hf-'));
    const hook = join(scratch, 'hook.sh');
    await writeFile(hook, `#!/bin/sh\nprintf '%s|%s|%s\\n' "$1" "$2" "$3" >> ${join(scratch, 'hook.log')}\n`, { mode: 0o755 });
    ann = await TestDaemon.create({ name: A, extra: fast });
    ben = await TestDaemon.create({ name: B, extra: { ...fast, onReceive: [hook], partialMaxAgeHours: 1 } });
    await Promise.all([ann.start(), ben.start()]);
    await Promise.all([ann.waitForPeer(B), ben.waitForPeer(A)]);
    assert.equal((await ben.cli(['trust', A])).code, 0);
    assert.equal((await ann.cli(['trust', B])).code, 0);
  });

  after(async () => {
    await Promise.all([ann?.destroy(), ben?.destroy()]);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const outbox = (d: TestDaemon, ...p: string[]): string => join(d.dir, 'outbox', ...p);

  it('trusting a peer creates its outbox folder', async () => {
    await waitFor(() => existsSync(outbox(ann, B)), 5000, 'the outbox folder');
  });

  it('a file written slowly into the outbox is sent once, whole, then moved to .sent', async () => {
    const path = outbox(ann, B, 'slow.log');
    await writeFile(path, 'start\n');
    for (let i = 0; i < 8; i++) {
      await sleep(250);
      await appendFile(path, `line ${i} ${'x'.repeat(1000)}\n`);
    }
    const expected = await sha256File(path);
    await waitFor(() => existsSync(join(ben.inbox, 'slow.log')), 20_000, 'slow.log at ben');
    assert.equal(await sha256File(join(ben.inbox, 'slow.log')), expected, 'the whole file arrived');
    await waitFor(() => existsSync(outbox(ann, '.sent', B, 'slow.log')), 10_000, 'slow.log in .sent');
    assert.ok(!existsSync(path));
    await sleep(1500);
    const names = (await readdir(ben.inbox)).filter((n) => n.startsWith('slow'));
    assert.deepEqual(names, ['slow.log'], 'sent exactly once');
    // status says which sends the outbox started
    const s = await ann.json<Status>(['status']);
    assert.ok(
      s.transfers.some((t) => t.direction === 'out' && t.origin === 'outbox'),
      'the outbox send is marked',
    );
    assert.match((await ann.cli(['status'])).stdout, /\(outbox\)/);
  });

  it('onReceive ran for the received file with its path and the sender', async () => {
    await waitFor(() => existsSync(join(scratch, 'hook.log')), 10_000, 'the hook to run');
    const lines = (await readFile(join(scratch, 'hook.log'), 'utf8')).trim().split('\n');
    const annId = await ann.id();
    assert.ok(lines.includes(`${join(ben.inbox, 'slow.log')}|${A}|${annId}`), lines.join('\n'));
  });

  it('a folder dropped in keeps its structure', async () => {
    const staging = join(scratch, 'album');
    await writeTree(staging, { 'a.jpg': 'A', 'sub/b.jpg': 'B', 'sub/deeper/c.txt': 'C' });
    const want = await hashTree(staging);
    const { rename } = await import('node:fs/promises');
    await rename(staging, outbox(ann, B, 'album'));
    await waitFor(() => existsSync(outbox(ann, '.sent', B, 'album')), 20_000, 'album in .sent');
    assert.deepEqual(await hashTree(join(ben.inbox, 'album')), want);
  });

  it('the jobs run on their schedules and show in status', async () => {
    await sleep(1500);
    const s = await ann.json<Status>(['status']);
    for (const name of ['outboxRescan', 'retry', 'cleanupPartials', 'pruneHistory']) {
      const job = s.jobs.find((j) => j.name === name);
      assert.ok(job && job.runs >= 1 && job.lastRunAt !== null, `${name}: ${JSON.stringify(job)}`);
      assert.equal(job.schedule, '*/1 * * * * *');
    }
  });

  it('cleanupPartials removes stale partial files', async () => {
    const stale = join(ben.inbox, '.p2pd-partial', 'old.0.part');
    await writeFile(stale, 'left over');
    const old = new Date(Date.now() - 3 * 3600_000);
    await utimes(stale, old, old);
    await waitFor(() => !existsSync(stale), 5000, 'the stale partial to go');
  });

  it('a file for an offline peer waits, then goes when the peer comes back', async () => {
    await ben.stop('SIGTERM');
    const path = outbox(ann, B, 'while-away.txt');
    await writeFile(path, 'hello later');
    await waitFor(
      async () => {
        const s = await ann.json<Status>(['status']);
        return s.outbox.some((o) => o.path.endsWith('while-away.txt') && (o.state === 'waiting-peer' || o.state === 'retrying'));
      },
      15_000,
      'the item to wait for the peer',
    );
    const human = await ann.cli(['status']);
    assert.match(human.stdout, /while-away\.txt/);
    await ben.start();
    await waitFor(() => existsSync(join(ben.inbox, 'while-away.txt')), 30_000, 'delivery after the peer came back');
  });

  it('files dropped while the daemon was stopped are sent after it starts', async () => {
    await ann.stop('SIGTERM');
    await writeFile(outbox(ann, B, 'dropped-while-stopped.txt'), 'caught up');
    await ann.start();
    await waitFor(() => existsSync(join(ben.inbox, 'dropped-while-stopped.txt')), 30_000, 'delivery after start');
  });

  it('a refused item moves to .failed with a note saying why', async () => {
    // ben stops trusting ann: her next outbox item is refused for good.
    assert.equal((await ben.cli(['untrust', A])).code, 0);
    await writeFile(outbox(ann, B, 'refused.txt'), 'no');
    await waitFor(() => existsSync(outbox(ann, '.failed', B, 'refused.txt')), 20_000, 'refused.txt in .failed');
    const notes = (await readdir(outbox(ann, '.failed', B))).filter((n) => n.startsWith('refused.txt') && n !== 'refused.txt');
    assert.equal(notes.length, 1);
    assert.match(await readFile(outbox(ann, '.failed', B, notes[0]!), 'utf8'), /PEER_NOT_TRUSTED/);
    assert.equal((await ben.cli(['trust', A])).code, 0);
  });

  it('SIGHUP reloads the config: a new schedule takes effect without a restart', async () => {
    const cfg = JSON.parse(await readFile(ann.configPath, 'utf8'));
    cfg.schedules.pruneHistory = '0 0 1 1 *';
    await writeFile(ann.configPath, JSON.stringify(cfg));
    process.kill(ann.pid!, 'SIGHUP');
    await waitFor(
      async () => {
        const s = await ann.json<Status>(['status']);
        return s.jobs.find((j) => j.name === 'pruneHistory')?.schedule === '0 0 1 1 *';
      },
      5000,
      'the new schedule',
    );
    assert.match(ann.log, /config reloaded/);
  });

  it('SIGTERM lets a running transfer finish within the grace period, then exits 0', async () => {
    const big = join(scratch, 'grace.bin');
    await writeFile(big, '');
    await truncate(big, 400 * 1024 * 1024);
    const sending = ann.cli(['send', B, big]);
    await waitFor(async () => (await ann.json<Status>(['status'])).transfers.some((t) => t.state === 'sending'), 20_000, 'the send to start');
    const code = await ann.stop('SIGTERM');
    assert.equal(code, 0);
    const r = await sending;
    assert.equal(r.code, 0, `the transfer finished during the grace period: ${r.stderr}`);
    assert.equal(await sha256File(join(ben.inbox, 'grace.bin')), await sha256File(big));
    await ann.start();
  });

  it('an invalid cron expression fails at start with the key name (exit 78)', async () => {
    const bad = await TestDaemon.create({ name: `bad-${tag}`, extra: { schedules: { retry: 'every minute' } } });
    try {
      const r = await bad.cli(['daemon']);
      assert.equal(r.code, 78);
      assert.match(r.stdout + r.stderr, /schedules\.retry/);
    } finally {
      await bad.destroy();
    }
  });

  it('a root-level file and hidden files in the outbox are left alone', async () => {
    await writeFile(outbox(ann, 'stray.txt'), 'not in a peer folder');
    await writeFile(outbox(ann, B, '.hidden'), 'editor temp');
    await mkdir(outbox(ann, B), { recursive: true });
    await sleep(3000);
    assert.ok(existsSync(outbox(ann, 'stray.txt')));
    assert.ok(existsSync(outbox(ann, B, '.hidden')));
    assert.ok(!existsSync(join(ben.inbox, '.hidden')));
  });
});
