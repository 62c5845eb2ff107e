/** The daemon's state file: trusted peers, history, the send queue, and recovery from damage. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../../src/store/state.js';
import { silentLogger } from '../../src/log.js';

const ID = 'A'.repeat(51) + 'Q';

describe('StateStore', () => {
  it('keeps trusted peers, history and the send queue across instances', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2pd-state-'));
    try {
      const a = new StateStore({ logger: silentLogger() }, { dir, historySize: 2 });
      a.trust({ id: ID, name: 'bob' });
      a.enqueue({ id: 'q1', peer: 'bob', paths: ['/x'], createdAt: new Date().toISOString() });
      for (const id of ['t1', 't2', 't3']) a.add({ id, startedAt: new Date().toISOString(), endedAt: new Date().toISOString() } as never);
      const b = new StateStore({ logger: silentLogger() }, { dir, historySize: 2 });
      assert.equal(b.getTrusted(ID)?.name, 'bob');
      assert.deepEqual(b.queued().map((q) => q.id), ['q1']);
      assert.deepEqual(b.list().map((v) => v.id), ['t3', 't2'], 'history is capped, newest first');
      b.dequeue('q1');
      assert.equal(b.untrust(ID), true);
      const c = new StateStore({ logger: silentLogger() }, { dir, historySize: 2 });
      assert.deepEqual(c.queued(), []);
      assert.equal(c.getTrusted(ID), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a damaged state file is set aside, reported, and the daemon starts afresh', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2pd-state-'));
    try {
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
      assert.equal(new StateStore({ logger: silentLogger() }, { dir, historySize: 10 }).getTrusted(ID)?.name, 'bob');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prune drops history older than the cutoff', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2pd-state-'));
    try {
      const s = new StateStore({ logger: silentLogger() }, { dir, historySize: 10 });
      const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
      s.add({ id: 'old', startedAt: old, endedAt: old } as never);
      s.add({ id: 'new', startedAt: new Date().toISOString(), endedAt: new Date().toISOString() } as never);
      assert.equal(s.prune({ olderThanMs: 30 * 86_400_000 }), 1);
      assert.deepEqual(s.list().map((v) => v.id), ['new']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
