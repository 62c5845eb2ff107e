/** The daemon's state file: trusted peers, history, the send queue, and recovery from damage. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StateStore } from '../../src/store/state.js';
import { silentLogger } from '../../src/log.js';

const ID = 'A'.repeat(51) + 'Q';
const now = (): string => new Date().toISOString();

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pd-state-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What is on disk, read without a StateStore. */
async function onDisk(dir: string): Promise<{ trusted: Record<string, { name: string }>; history: Array<{ id: string }> } | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as never;
  } catch {
    return undefined;
  }
}

const open = (dir: string, extra: { historySize?: number; debounceMs?: number } = {}): StateStore =>
  new StateStore(
    { logger: silentLogger() },
    { dir, historySize: extra.historySize ?? 10, ...(extra.debounceMs === undefined ? {} : { debounceMs: extra.debounceMs }) },
  );

describe('StateStore', () => {
  it('keeps trusted peers, history and the send queue across instances', async () => {
    await withDir(async (dir) => {
      const a = open(dir, { historySize: 2 });
      a.trust({ id: ID, name: 'bob' });
      a.enqueue({ id: 'q1', peer: 'bob', paths: ['/x'], createdAt: now() });
      for (const id of ['t1', 't2', 't3']) a.add({ id, startedAt: now(), endedAt: now() } as never);
      await a.stop();
      const b = open(dir, { historySize: 2 });
      assert.equal(b.getTrusted(ID)?.name, 'bob');
      assert.deepEqual(
        b.queued().map((q) => q.id),
        ['q1'],
      );
      assert.deepEqual(
        b.list().map((v) => v.id),
        ['t3', 't2'],
        'history is capped, newest first',
      );
      b.dequeue('q1');
      assert.equal(b.untrust(ID), true);
      await b.flush();
      const c = open(dir, { historySize: 2 });
      assert.deepEqual(c.queued(), []);
      assert.equal(c.getTrusted(ID), undefined);
    });
  });

  it('loads a state.json written by earlier versions (conf layout) and keeps its format and mode', async () => {
    await withDir(async (dir) => {
      const old = {
        trusted: { [ID]: { id: ID, name: 'bob', trustedAt: '2026-01-01T00:00:00.000Z' } },
        history: [{ id: 't0', startedAt: '2026-01-01T00:00:00.000Z' }],
      };
      await writeFile(join(dir, 'state.json'), JSON.stringify(old, undefined, '\t'), { mode: 0o600 });
      const s = open(dir);
      assert.equal(s.getTrusted(ID)?.name, 'bob');
      assert.deepEqual(s.queued(), [], 'a file without a queue has an empty one');
      assert.deepEqual(
        s.list().map((v) => v.id),
        ['t0'],
      );
      s.add({ id: 't1', startedAt: now() } as never);
      await s.stop();
      const text = await readFile(join(dir, 'state.json'), 'utf8');
      assert.match(text, /^\{\n\t"trusted": \{/, 'tab-indented JSON, as conf wrote it');
      assert.deepEqual(
        (JSON.parse(text) as { history: Array<{ id: string }> }).history.map((v) => v.id),
        ['t1', 't0'],
      );
      assert.equal((await stat(join(dir, 'state.json'))).mode & 0o777, 0o600);
      assert.deepEqual((await readdir(dir)).sort(), ['state.json'], 'no temporary file is left');
    });
  });

  it('a new state file is written once start() is called (after the daemon holds its lock), not at construction', async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, 'state.json.tmp-deadbeef'), '{"trusted": {}, "hist');
      const s = open(dir, { debounceMs: 10 });
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await readdir(dir), ['state.json.tmp-deadbeef'], 'a second daemon that is refused touches nothing');
      await s.start({ signal: new AbortController().signal });
      await s.stop();
      assert.deepEqual(await readdir(dir), ['state.json']);
      assert.deepEqual(await onDisk(dir), { trusted: {}, history: [], queue: [] });
    });
  });

  it('serves reads from memory: a change to the file behind its back does not change them', async () => {
    await withDir(async (dir) => {
      const s = open(dir);
      s.trust({ id: ID, name: 'bob' });
      await s.flush();
      await writeFile(s.path, JSON.stringify({ trusted: {}, history: [{ id: 'ghost', startedAt: now() }], queue: [] }));
      assert.equal(s.getTrusted(ID)?.name, 'bob');
      assert.deepEqual(s.list(), []);
    });
  });

  it('many adds cause few writes; flush() and stop() persist them', async () => {
    await withDir(async (dir) => {
      const s = open(dir, { historySize: 100, debounceMs: 200 });
      const before = s.writes;
      for (let i = 0; i < 1000; i++) s.add({ id: `t${i}`, startedAt: now(), endedAt: now() } as never);
      assert.equal(s.writes, before, 'nothing is written synchronously');
      await s.flush();
      assert.equal(s.writes, before + 1, 'a thousand adds, one write');
      assert.equal(open(dir, { historySize: 100 }).list()[0]?.id, 't999');
      s.enqueue({ id: 'q1', peer: 'bob', paths: ['/x'], createdAt: now() });
      await s.stop();
      assert.deepEqual(
        open(dir)
          .queued()
          .map((q) => q.id),
        ['q1'],
      );
      await s.stop();
      assert.equal(s.writes, before + 2, 'stop() with nothing pending writes nothing');
    });
  });

  it('writes debounced changes by itself after the window', async () => {
    await withDir(async (dir) => {
      const s = open(dir, { debounceMs: 50 });
      s.add({ id: 't1', startedAt: now() } as never);
      assert.deepEqual(open(dir).list(), [], 'not yet on disk');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(
        open(dir)
          .list()
          .map((v) => v.id),
        ['t1'],
      );
    });
  });

  it('trust and untrust are written at once, without waiting for the debounce window', async () => {
    await withDir(async (dir) => {
      const s = open(dir, { debounceMs: 60_000 });
      s.trust({ id: ID, name: 'bob' });
      await s.flush();
      assert.equal(open(dir).getTrusted(ID)?.name, 'bob');
      // Written at once even if the caller never awaits: wait for the file, not for flush().
      s.untrust(ID);
      const deadline = Date.now() + 5000;
      while ((await onDisk(dir))?.trusted[ID] !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal((await onDisk(dir))?.trusted[ID], undefined);
      await s.stop();
    });
  });

  it('a kill between writes leaves a valid file, old or new', async () => {
    await withDir(async (dir) => {
      // A child process writes as fast as it can and is killed mid-stream, several times.
      const stateModule = fileURLToPath(new URL('../../src/store/state.js', import.meta.url));
      const logModule = fileURLToPath(new URL('../../src/log.js', import.meta.url));
      const script = `
        const { StateStore } = await import(${JSON.stringify(stateModule)});
        const { silentLogger } = await import(${JSON.stringify(logModule)});
        const s = new StateStore({ logger: silentLogger() }, { dir: ${JSON.stringify(dir)}, historySize: 500, debounceMs: 0 });
        let i = 0;
        // "go" once a first write is on disk: a loaded machine may take long for it.
        s.add({ id: 't' + i++, startedAt: new Date().toISOString(), note: 'first' });
        await s.flush();
        process.stdout.write('go\\n');
        for (;;) { s.add({ id: 't' + i++, startedAt: new Date().toISOString(), note: 'x'.repeat(200) }); await s.flush(); }
      `;
      for (let round = 0; round < 3; round++) {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
        await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
        await new Promise((r) => setTimeout(r, 150 + round * 70));
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
        const logged: string[] = [];
        const logger = silentLogger();
        logger.error = ((obj: { code?: string }) => void logged.push(obj.code ?? '')) as never;
        const s = new StateStore({ logger }, { dir, historySize: 500 });
        assert.deepEqual(logged, [], 'the file left by the kill loads');
        assert.ok(s.list().length > 0, 'something was written before the kill');
        // A killed writer's temporary file is removed when the next one starts.
        await s.start({ signal: new AbortController().signal });
        assert.deepEqual(await readdir(dir), ['state.json']);
        await s.stop();
      }
    });
  });

  it('a damaged state file is set aside, reported, and the daemon starts afresh', async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, 'state.json'), '{"trusted": {"half-written');
      const logged: string[] = [];
      const logger = silentLogger();
      logger.error = ((obj: { code?: string }) => void logged.push(obj.code ?? '')) as never;
      const s = new StateStore({ logger }, { dir, historySize: 10 });
      assert.deepEqual(logged, ['STATE_CORRUPT']);
      assert.deepEqual(s.trusted(), []);
      const names = await readdir(dir);
      const aside = names.find((n) => n.startsWith('state.json.corrupt-'));
      assert.ok(aside, names.join());
      assert.equal(await readFile(join(dir, aside), 'utf8'), '{"trusted": {"half-written', 'the damaged file is kept for inspection');
      s.trust({ id: ID, name: 'bob' });
      await s.flush();
      assert.equal(open(dir).getTrusted(ID)?.name, 'bob');
    });
  });

  it('a file of the wrong shape counts as damaged', async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, 'state.json'), '{"trusted": [], "history": {}}');
      const logged: string[] = [];
      const logger = silentLogger();
      logger.error = ((obj: { code?: string }) => void logged.push(obj.code ?? '')) as never;
      new StateStore({ logger }, { dir, historySize: 10 });
      assert.deepEqual(logged, ['STATE_CORRUPT']);
    });
  });

  it('prune drops history older than the cutoff', async () => {
    await withDir(async (dir) => {
      const s = open(dir);
      const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
      s.add({ id: 'old', startedAt: old, endedAt: old } as never);
      s.add({ id: 'new', startedAt: now(), endedAt: now() } as never);
      assert.equal(s.prune({ olderThanMs: 30 * 86_400_000 }), 1);
      assert.deepEqual(
        s.list().map((v) => v.id),
        ['new'],
      );
      await s.stop();
    });
  });
});
