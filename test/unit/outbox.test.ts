/**
 * The outbox, black-box through its public API: a real temporary folder, real fs.watch, a fake
 * sender that records calls and answers from a script. stableSeconds is 1, so each test takes
 * one to three seconds; the tests run concurrently, each in its own folder.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pino } from 'pino';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import {
  Outbox,
  PERMANENT_CODES,
  classifyFailure,
  type OutboxChange,
  type OutboxItemView,
  type OutboxOptions,
  type OutboxSender,
  type SendOutcome,
} from '../../src/outbox/index.js';
import { writeTree } from '../helpers/files.js';

// ── fakes and helpers ─────────────────────────────────────────────────────────────────────────

interface Call {
  peer: string;
  paths: string[];
  /** Size of each path when the send started (a folder: -1). */
  sizes: number[];
  at: number;
  signal: AbortSignal;
}

type Step = SendOutcome | 'block';

const fail = (code: Extract<SendOutcome, { ok: false }>['code'], transferId: string | null = 't-failed'): SendOutcome => ({
  ok: false,
  transferId,
  code,
  message: `scripted ${code}`,
});

class FakeSender implements OutboxSender {
  readonly calls: Call[] = [];
  readonly online = new Set<string>(['bob']);
  /** Scripted outcomes per item name (the basename of the path sent); succeeds when none is left. */
  readonly scripts = new Map<string, Step[]>();
  /** A step repeated for every send of this name, after the script. */
  readonly always = new Map<string, Step>();
  active = 0;
  maxActive = 0;
  #gates: Array<() => void> = [];
  #ids = 0;

  script(name: string, ...steps: Step[]): void {
    this.scripts.set(name, steps);
  }

  /** Lets every blocked send end successfully. */
  release(): void {
    const gates = this.#gates;
    this.#gates = [];
    for (const open of gates) open();
  }

  get blocked(): number {
    return this.#gates.length;
  }

  isOnline(peer: string): boolean {
    return this.online.has(peer);
  }

  async send(peer: string, paths: string[], options: { signal: AbortSignal }): Promise<SendOutcome> {
    const sizes = await Promise.all(paths.map(async (p) => ((await lstat(p)).isFile() ? (await lstat(p)).size : -1)));
    this.calls.push({ peer, paths, sizes, at: Date.now(), signal: options.signal });
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      const name = basename(paths[0]!);
      const step = this.scripts.get(name)?.shift() ?? this.always.get(name) ?? { ok: true, transferId: `t${++this.#ids}` };
      if (step !== 'block') return step;
      await new Promise<void>((resolve) => {
        this.#gates.push(resolve);
        options.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      if (options.signal.aborted) return { ok: false, transferId: 't-blocked', code: 'TRANSFER_CANCELLED', message: 'cancelled' };
      return { ok: true, transferId: 't-blocked' };
    } finally {
      this.active--;
    }
  }
}

interface Harness {
  dir: string;
  outbox: Outbox;
  sender: FakeSender;
  logs: Array<Record<string, unknown>>;
  trusted: string[];
  /** Added to the clock the outbox sees. */
  clock: { offset: number };
  start(): Promise<void>;
  done(): Promise<void>;
}

async function harness(options: Partial<OutboxOptions> & { trusted?: string[]; before?: (dir: string) => Promise<void> } = {}): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), 'p2pd-outbox-'));
  const dir = join(root, 'outbox');
  const sender = new FakeSender();
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const trusted = options.trusted ?? ['bob'];
  const clock = { offset: 0 };
  const outbox = new Outbox(
    { logger, sender, peers: { trustedNames: () => trusted }, now: () => Date.now() + clock.offset },
    {
      dir,
      afterSend: options.afterSend ?? 'move',
      stableSeconds: options.stableSeconds ?? 1,
      giveUpHours: options.giveUpHours ?? 0,
      ...(options.maxConcurrent === undefined ? {} : { maxConcurrent: options.maxConcurrent }),
      ...(options.watch === undefined ? {} : { watch: options.watch }),
    },
  );
  return {
    dir,
    outbox,
    sender,
    logs,
    trusted,
    clock,
    start: () => outbox.start(),
    async done() {
      await outbox.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Runs `body` with a started harness and always cleans up. */
async function withOutbox(options: Parameters<typeof harness>[0], body: (h: Harness) => Promise<void>, setup?: (dir: string) => Promise<void>): Promise<void> {
  const h = await harness(options);
  try {
    if (setup !== undefined) {
      await mkdir(h.dir, { recursive: true });
      await setup(h.dir);
    }
    await h.start();
    await body(h);
  } finally {
    await h.done();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 6000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

function item(h: Harness, path: string): OutboxItemView | undefined {
  return h.outbox.queue().find((i) => i.path === path);
}

async function waitState(h: Harness, path: string, state: OutboxItemView['state']): Promise<OutboxItemView> {
  await waitFor(`${path} to be ${state} (now ${item(h, path)?.state ?? 'absent'})`, () => item(h, path)?.state === state);
  return item(h, path)!;
}

/** Every path under `root`, relative, directories with a trailing "/". */
async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, prefix: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const rel = `${prefix}${entry.name}`;
      if (entry.isDirectory()) {
        out.push(`${rel}/`);
        await walk(join(dir, entry.name), `${rel}/`);
      } else {
        out.push(rel);
      }
    }
  }
  await walk(root, '');
  return out.sort();
}

const T = { timeout: 15_000 };

// ── tests ─────────────────────────────────────────────────────────────────────────────────────

describe('Outbox', { concurrency: true }, () => {
  describe('settling', { concurrency: true }, () => {
    it('sends a file that is still being written only once, after it stopped changing, whole', T, async () => {
      await withOutbox({}, async (h) => {
        const path = join(h.dir, 'bob', 'growing.log');
        let lastWrite = 0;
        for (let i = 0; i < 10; i++) {
          await appendFile(path, 'x'.repeat(1000));
          lastWrite = Date.now();
          await sleep(200);
        }
        assert.equal(h.sender.calls.length, 0, 'nothing is sent while the file grows');
        await waitFor('the send', () => h.sender.calls.length === 1);
        const call = h.sender.calls[0]!;
        assert.deepEqual(call.paths, [path]);
        assert.equal(call.peer, 'bob');
        assert.deepEqual(call.sizes, [10_000]);
        assert.ok(call.at - lastWrite >= 1000, `sent ${call.at - lastWrite} ms after the last write`);
        await waitFor('the move to .sent', () => exists(join(h.dir, '.sent', 'bob', 'growing.log')));
        assert.equal((await stat(join(h.dir, '.sent', 'bob', 'growing.log'))).size, 10_000);
        await sleep(700);
        assert.equal(h.sender.calls.length, 1, 'sent exactly once');
        assert.deepEqual(h.outbox.queue(), []);
      });
    });

    it('sends a folder as one item and moves it to .sent with its structure', T, async () => {
      await withOutbox({}, async (h) => {
        const folder = join(h.dir, 'bob', 'photos');
        await writeTree(folder, { 'a.jpg': 'A', 'trip/b.jpg': 'BB', 'trip/deeper/c.jpg': 'CCC' });
        await mkdir(join(folder, 'empty'));
        await waitFor('the send', () => h.sender.calls.length === 1);
        assert.deepEqual(h.sender.calls[0]!.paths, [folder]);
        const sent = join(h.dir, '.sent', 'bob', 'photos');
        await waitFor('the move', () => exists(sent));
        assert.deepEqual(await tree(sent), ['a.jpg', 'empty/', 'trip/', 'trip/b.jpg', 'trip/deeper/', 'trip/deeper/c.jpg']);
        assert.equal(await readFile(join(sent, 'trip', 'deeper', 'c.jpg'), 'utf8'), 'CCC');
        assert.equal(await exists(folder), false);
        assert.equal(h.sender.calls.length, 1);
      });
    });

    it('does not send a folder while a file deep inside it keeps changing', T, async () => {
      await withOutbox({}, async (h) => {
        const folder = join(h.dir, 'bob', 'album');
        await writeTree(folder, { 'sub/one.txt': '1' });
        for (let i = 0; i < 8; i++) {
          await appendFile(join(folder, 'sub', 'one.txt'), 'more');
          await sleep(200);
        }
        assert.equal(h.sender.calls.length, 0);
        await waitFor('the send', () => h.sender.calls.length === 1);
        await waitFor('the move', () => exists(join(h.dir, '.sent', 'bob', 'album', 'sub', 'one.txt')));
        assert.equal((await readFile(join(h.dir, '.sent', 'bob', 'album', 'sub', 'one.txt'), 'utf8')).length, 1 + 8 * 4);
      });
    });

    it('with afterSend "delete" deletes a delivered folder', T, async () => {
      await withOutbox({ afterSend: 'delete' }, async (h) => {
        const folder = join(h.dir, 'bob', 'docs');
        await writeTree(folder, { 'x.txt': 'x', 'y/z.txt': 'z' });
        await waitFor('the send', () => h.sender.calls.length === 1);
        await waitFor('the delete', async () => !(await exists(folder)));
        assert.deepEqual(await readdir(join(h.dir, '.sent')), []);
        assert.deepEqual(h.outbox.queue(), []);
      });
    });

    it('gives a name taken in .sent a conflict name', T, async () => {
      await withOutbox({}, async (h) => {
        await mkdir(join(h.dir, '.sent', 'bob'), { recursive: true });
        await writeFile(join(h.dir, '.sent', 'bob', 'report.pdf'), 'old');
        await writeFile(join(h.dir, 'bob', 'report.pdf'), 'new');
        await waitFor('the move', () => exists(join(h.dir, '.sent', 'bob', 'report (1).pdf')));
        assert.equal(await readFile(join(h.dir, '.sent', 'bob', 'report.pdf'), 'utf8'), 'old');
        assert.equal(await readFile(join(h.dir, '.sent', 'bob', 'report (1).pdf'), 'utf8'), 'new');
      });
    });

    it('keeps an item that changed during its send and sends it again', T, async () => {
      await withOutbox({}, async (h) => {
        const path = join(h.dir, 'bob', 'notes.txt');
        h.sender.script('notes.txt', 'block');
        await writeFile(path, 'first');
        await waitFor('the blocked send', () => h.sender.blocked === 1);
        await appendFile(path, ' and more');
        h.sender.release();
        await waitState(h, 'bob/notes.txt', 'settling');
        assert.equal(await readFile(path, 'utf8'), 'first and more', 'not moved: it changed');
        await waitFor('the second send', () => h.sender.calls.length === 2);
        await waitFor('the move', () => exists(join(h.dir, '.sent', 'bob', 'notes.txt')));
        assert.equal(await readFile(join(h.dir, '.sent', 'bob', 'notes.txt'), 'utf8'), 'first and more');
      });
    });

    it('settles again after SOURCE_CHANGED and sends once more', T, async () => {
      await withOutbox({}, async (h) => {
        h.sender.script('log.txt', fail('SOURCE_CHANGED'));
        await writeFile(join(h.dir, 'bob', 'log.txt'), 'data');
        await waitFor('the first send', () => h.sender.calls.length === 1);
        await waitFor('the second send', () => h.sender.calls.length === 2);
        await waitFor('the move', () => exists(join(h.dir, '.sent', 'bob', 'log.txt')));
      });
    });
  });

  describe('peers and failures', { concurrency: true }, () => {
    it('waits for an offline peer without trying, and sends at once on peerOnline()', T, async () => {
      await withOutbox({}, async (h) => {
        h.sender.online.clear();
        await writeFile(join(h.dir, 'bob', 'hello.txt'), 'hi');
        const waiting = await waitState(h, 'bob/hello.txt', 'waiting-peer');
        assert.equal(waiting.attempts, 0);
        await h.outbox.retry();
        await sleep(300);
        assert.equal(h.sender.calls.length, 0, 'no attempt while the peer is offline');
        h.outbox.peerOnline('carol'); // another peer: nothing happens
        await sleep(100);
        assert.equal(h.sender.calls.length, 0);
        const before = Date.now();
        h.outbox.peerOnline('bob');
        await waitFor('the send', () => h.sender.calls.length === 1, 1000);
        assert.ok(h.sender.calls[0]!.at - before < 500, 'sent at once');
        await waitFor('the move', () => exists(join(h.dir, '.sent', 'bob', 'hello.txt')));
      });
    });

    it('retries a transient failure: retrying with attempts and lastError, then retry() succeeds', T, async () => {
      await withOutbox({}, async (h) => {
        h.sender.script('data.bin', fail('PEER_UNREACHABLE', 't-1'));
        await writeFile(join(h.dir, 'bob', 'data.bin'), 'payload');
        const view = await waitState(h, 'bob/data.bin', 'retrying');
        assert.equal(view.attempts, 1);
        assert.equal(view.lastError?.code, 'PEER_UNREACHABLE');
        assert.equal(view.transferId, 't-1');
        assert.equal(await exists(join(h.dir, 'bob', 'data.bin')), true);
        await sleep(300);
        assert.equal(h.sender.calls.length, 1, 'not retried by itself');
        await h.outbox.retry();
        await waitFor('the move', () => exists(join(h.dir, '.sent', 'bob', 'data.bin')));
        assert.equal(h.sender.calls.length, 2);
        assert.deepEqual(h.outbox.queue(), []);
      });
    });

    it('sends a retrying item at once when its peer comes online; warns on PEER_IDENTITY_MISMATCH', T, async () => {
      await withOutbox({}, async (h) => {
        h.sender.script('id.txt', fail('PEER_IDENTITY_MISMATCH'));
        await writeFile(join(h.dir, 'bob', 'id.txt'), 'x');
        await waitState(h, 'bob/id.txt', 'retrying');
        assert.ok(h.logs.some((l) => l.level === 40 && l.code === 'PEER_IDENTITY_MISMATCH' && String(l.msg).includes('impostor')));
        h.outbox.peerOnline('bob');
        await waitFor('the move', () => exists(join(h.dir, '.sent', 'bob', 'id.txt')));
        assert.equal(h.sender.calls.length, 2);
      });
    });

    it('moves permanent failures to .failed with a note naming the code', T, async () => {
      await withOutbox({}, async (h) => {
        h.sender.script('secret.txt', fail('PEER_NOT_TRUSTED'));
        h.sender.script('huge', fail('OFFER_TOO_LARGE'));
        await writeFile(join(h.dir, 'bob', 'secret.txt'), 's');
        await writeTree(join(h.dir, 'bob', 'huge'), { 'part1.bin': '1', 'more/part2.bin': '2' });
        const failed = join(h.dir, '.failed', 'bob');
        await waitFor('both moves', async () => (await exists(join(failed, 'secret.txt.why.txt'))) && (await exists(join(failed, 'huge.why.txt'))));
        const note1 = await readFile(join(failed, 'secret.txt.why.txt'), 'utf8');
        assert.match(note1, /PEER_NOT_TRUSTED/);
        assert.match(note1, /p2pd trust/);
        assert.match(note1, /bob/);
        const note2 = await readFile(join(failed, 'huge.why.txt'), 'utf8');
        assert.match(note2, /OFFER_TOO_LARGE/);
        assert.deepEqual(await tree(join(failed, 'huge')), ['more/', 'more/part2.bin', 'part1.bin']);
        assert.equal(await readFile(join(failed, 'secret.txt'), 'utf8'), 's');
        assert.deepEqual(await readdir(join(h.dir, 'bob')), []);
        assert.deepEqual(h.outbox.queue(), []);
        await h.outbox.retry();
        await sleep(200);
        assert.equal(h.sender.calls.length, 2, 'never retried');
      });
    });

    it('gives up after giveUpHours (injected clock), for failing and for waiting items', T, async () => {
      await withOutbox({ giveUpHours: 1, trusted: ['bob', 'carol'] }, async (h) => {
        h.sender.always.set('busy.txt', fail('PEER_BUSY'));
        await writeFile(join(h.dir, 'bob', 'busy.txt'), 'b');
        await writeFile(join(h.dir, 'carol', 'away.txt'), 'c'); // carol is offline
        await waitState(h, 'bob/busy.txt', 'retrying');
        await waitState(h, 'carol/away.txt', 'waiting-peer');
        await h.outbox.retry();
        await waitFor('a second attempt', () => h.sender.calls.length === 2);
        await waitState(h, 'bob/busy.txt', 'retrying');
        assert.equal(await exists(join(h.dir, '.failed', 'bob')), false, 'not yet');
        h.clock.offset += 2 * 3_600_000;
        await h.outbox.retry();
        await waitFor(
          'both give-ups',
          async () => (await exists(join(h.dir, '.failed', 'bob', 'busy.txt'))) && (await exists(join(h.dir, '.failed', 'carol', 'away.txt'))),
        );
        const note = await readFile(join(h.dir, '.failed', 'bob', 'busy.txt.why.txt'), 'utf8');
        assert.match(note, /PEER_BUSY/);
        assert.match(note, /gave up/);
        assert.match(await readFile(join(h.dir, '.failed', 'carol', 'away.txt.why.txt'), 'utf8'), /gave up/);
        assert.deepEqual(h.outbox.queue(), []);
      });
    });

    it('never sends one item twice at once, and keeps to maxConcurrent', T, async () => {
      await withOutbox({ maxConcurrent: 2 }, async (h) => {
        for (const name of ['a.txt', 'b.txt', 'c.txt']) h.sender.script(name, 'block');
        await Promise.all(['a.txt', 'b.txt', 'c.txt'].map((n) => writeFile(join(h.dir, 'bob', n), n)));
        await waitFor('two blocked sends', () => h.sender.blocked === 2);
        await sleep(200);
        assert.equal(h.sender.calls.length, 2);
        assert.equal(h.outbox.queue().filter((i) => i.state === 'queued').length, 1);
        await h.outbox.retry();
        h.outbox.peerOnline('bob');
        await h.outbox.rescan();
        await sleep(200);
        assert.equal(h.sender.calls.length, 2, 'no item sent twice at once');
        h.sender.release();
        await waitFor('the third send', () => h.sender.blocked === 1);
        h.sender.release();
        await waitFor('all moved', async () => (await readdir(join(h.dir, '.sent', 'bob'))).length === 3);
        assert.equal(h.sender.calls.length, 3);
        assert.equal(h.sender.maxActive, 2);
        assert.equal(new Set(h.sender.calls.map((c) => c.paths[0])).size, 3);
      });
    });
  });

  describe('scanning and watching', { concurrency: true }, () => {
    it('sends files that were there before start() (first scan)', T, async () => {
      await withOutbox(
        { trusted: [] },
        async (h) => {
          await waitFor('the move', () => exists(join(h.dir, '.sent', 'bob', 'early.txt')));
          assert.equal(h.sender.calls.length, 1);
        },
        async (dir) => {
          await mkdir(join(dir, 'bob'));
          await writeFile(join(dir, 'bob', 'early.txt'), 'waiting since yesterday');
        },
      );
    });

    it('notices files added while watching, in existing and new peer folders, without rescan()', T, async () => {
      await withOutbox({}, async (h) => {
        h.sender.online.add('dave');
        await writeFile(join(h.dir, 'bob', 'live.txt'), 'live');
        await mkdir(join(h.dir, 'dave'));
        await sleep(100);
        await writeFile(join(h.dir, 'dave', 'new-folder-item.txt'), 'd');
        await waitFor(
          'both moves',
          async () => (await exists(join(h.dir, '.sent', 'bob', 'live.txt'))) && (await exists(join(h.dir, '.sent', 'dave', 'new-folder-item.txt'))),
        );
        assert.equal(h.sender.calls.length, 2);
      });
    });

    it('with watching off, finds new files only through rescan()', T, async () => {
      await withOutbox({ watch: false }, async (h) => {
        await writeFile(join(h.dir, 'bob', 'quiet.txt'), 'q');
        await sleep(1500);
        assert.deepEqual(h.outbox.queue(), []);
        assert.equal(h.sender.calls.length, 0);
        await h.outbox.rescan();
        assert.equal(item(h, 'bob/quiet.txt')?.state, 'settling');
        await waitFor('the move', () => exists(join(h.dir, '.sent', 'bob', 'quiet.txt')));
      });
    });

    it('ignores hidden files, files at the top and symlinks (warning once)', T, async () => {
      const outside = await mkdtemp(join(tmpdir(), 'p2pd-outside-'));
      try {
        await writeFile(join(outside, 'secret.txt'), 'do not send');
        await mkdir(join(outside, 'folder'));
        await writeFile(join(outside, 'folder', 'inner.txt'), 'do not send either');
        await withOutbox({ trusted: ['bob'] }, async (h) => {
          await writeFile(join(h.dir, 'bob', '.hidden'), 'h');
          await writeFile(join(h.dir, 'bob', '.~lock.doc#'), 'h');
          await mkdir(join(h.dir, 'bob', '.partial-folder'));
          await writeFile(join(h.dir, 'stray.txt'), 'top level');
          await symlink(join(outside, 'secret.txt'), join(h.dir, 'bob', 'link.txt'));
          await symlink(join(outside, 'folder'), join(h.dir, 'bob', 'linked-folder'));
          await symlink(join(outside, 'folder'), join(h.dir, 'eve')); // a "peer folder" that is a link
          await writeFile(join(h.dir, 'bob', 'real.txt'), 'r');
          await waitFor('the real file to go', () => exists(join(h.dir, '.sent', 'bob', 'real.txt')));
          await h.outbox.rescan();
          await h.outbox.rescan();
          await sleep(1300);
          assert.deepEqual(
            h.sender.calls.map((c) => basename(c.paths[0]!)),
            ['real.txt'],
          );
          assert.deepEqual(h.outbox.queue(), []);
          assert.equal(await exists(join(h.dir, 'bob', '.hidden')), true);
          assert.equal(await exists(join(h.dir, 'bob', 'link.txt')), true);
          const warnings = (name: string): number => h.logs.filter((l) => l.level === 40 && JSON.stringify(l).includes(name)).length;
          assert.equal(warnings('stray.txt'), 1, 'a stray file is warned about once');
          assert.equal(warnings('link.txt'), 1, 'a symlink item is warned about once');
          assert.equal(warnings('"eve"'), 1);
        });
        assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'do not send');
      } finally {
        await rm(outside, { recursive: true, force: true });
      }
    });

    it('survives its folder being removed: warns, and picks up again once it is back', T, async () => {
      await withOutbox({}, async (h) => {
        await rm(h.dir, { recursive: true });
        await h.outbox.rescan();
        await h.outbox.rescan();
        await sleep(300);
        assert.equal(h.logs.filter((l) => l.level === 40 && String(l.msg).includes('cannot read the outbox')).length, 1);
        await mkdir(join(h.dir, 'bob'), { recursive: true });
        await writeFile(join(h.dir, 'bob', 'back.txt'), 'b');
        await h.outbox.rescan();
        await waitFor('the move', () => exists(join(h.dir, '.sent', 'bob', 'back.txt')));
        // The watches are set up again on the new folders.
        await writeFile(join(h.dir, 'bob', 'watched.txt'), 'w');
        await waitFor('the watched file to go', () => exists(join(h.dir, '.sent', 'bob', 'watched.txt')));
      });
    });

    it('forgets an item removed before it was sent', T, async () => {
      await withOutbox({}, async (h) => {
        h.sender.online.clear();
        await writeFile(join(h.dir, 'bob', 'oops.txt'), 'o');
        await waitState(h, 'bob/oops.txt', 'waiting-peer');
        await rm(join(h.dir, 'bob', 'oops.txt'));
        await h.outbox.rescan();
        assert.deepEqual(h.outbox.queue(), []);
        h.outbox.peerOnline('bob');
        await sleep(200);
        assert.equal(h.sender.calls.length, 0);
      });
    });
  });

  describe('lifecycle and status', { concurrency: true }, () => {
    it('queue() shows the states; stop() during a blocked send leaves the item and resolves', T, async () => {
      const h = await harness({});
      try {
        await h.start();
        h.sender.script('big.iso', 'block');
        const before = Date.now();
        await writeFile(join(h.dir, 'bob', 'big.iso'), Buffer.alloc(4096));
        const settling = await waitState(h, 'bob/big.iso', 'settling');
        assert.deepEqual(
          { ...settling, since: undefined },
          { peer: 'bob', path: 'bob/big.iso', kind: 'file', bytes: 4096, state: 'settling', attempts: 0, lastError: null, transferId: null, since: undefined },
        );
        assert.ok(Date.parse(settling.since) >= before - 1000 && Date.parse(settling.since) <= Date.now());
        await waitState(h, 'bob/big.iso', 'sending');
        await waitFor('the blocked send', () => h.sender.blocked === 1);
        const started = Date.now();
        await h.outbox.stop();
        assert.ok(Date.now() - started < 2000, 'stop() resolves promptly');
        assert.equal(h.sender.calls[0]!.signal.aborted, true, 'the running send was aborted');
        assert.equal(await exists(join(h.dir, 'bob', 'big.iso')), true, 'the item stays in the outbox');
        assert.equal(await exists(join(h.dir, '.sent', 'bob', 'big.iso')), false);
        assert.equal(await exists(join(h.dir, '.failed', 'bob')), false);
        const after = item(h, 'bob/big.iso');
        assert.equal(after?.attempts, 0, 'a send cancelled by stop() does not count');
        assert.equal(after?.lastError, null);
        await h.outbox.stop(); // twice is fine
        await h.outbox.rescan(); // after stop: nothing happens
        await h.outbox.retry();
      } finally {
        await h.done();
      }
    });

    it('start() creates the outbox (0700), .sent, .failed and a folder per trusted peer; ensurePeerFolder() adds one', T, async () => {
      await withOutbox({ trusted: ['bob', 'carol#abc1234', '../escape', '.hidden', 'a/b', ''] }, async (h) => {
        assert.equal((await stat(h.dir)).mode & 0o777, 0o700);
        assert.deepEqual((await readdir(h.dir)).sort(), ['.failed', '.sent', 'bob', 'carol#abc1234']);
        assert.equal(await exists(join(h.dir, '..', 'escape')), false);
        await h.outbox.ensurePeerFolder('dave');
        await h.outbox.ensurePeerFolder('dave'); // again: fine
        await h.outbox.ensurePeerFolder('../../evil');
        await h.outbox.ensurePeerFolder('..');
        assert.equal((await stat(join(h.dir, 'dave'))).isDirectory(), true);
        assert.deepEqual((await readdir(h.dir)).sort(), ['.failed', '.sent', 'bob', 'carol#abc1234', 'dave']);
        assert.equal(await exists(join(h.dir, '..', '..', 'evil')), false);
      });
    });
  });

  describe('change events', { concurrency: true }, () => {
    it('a watcher that applies every change event sees what queue() shows, from added to removed', T, async () => {
      await withOutbox({}, async (h) => {
        const mirror = new Map<string, OutboxItemView>();
        const seen: OutboxChange[] = [];
        h.outbox.on('change', (change) => {
          seen.push(change);
          if (change.type === 'removed') mirror.delete(change.item.path);
          else mirror.set(change.item.path, change.item);
        });
        const same = (): boolean => JSON.stringify([...mirror.values()].sort((a, b) => a.since.localeCompare(b.since))) === JSON.stringify(h.outbox.queue());
        h.sender.script('report.pdf', fail('PEER_UNREACHABLE', 't-1'));
        await writeFile(join(h.dir, 'bob', 'report.pdf'), 'pdf');
        await waitState(h, 'bob/report.pdf', 'settling');
        await waitFor('the mirror to show the new item', same);
        assert.equal(seen[0]?.type, 'added');
        assert.equal(seen[0]?.item.state, 'settling');

        await waitState(h, 'bob/report.pdf', 'retrying');
        await waitFor('the mirror to show the failure', same);
        assert.equal(mirror.get('bob/report.pdf')?.lastError?.code, 'PEER_UNREACHABLE');
        assert.equal(mirror.get('bob/report.pdf')?.attempts, 1);
        assert.equal(mirror.get('bob/report.pdf')?.transferId, 't-1');

        await h.outbox.retry();
        await waitFor('the move to .sent', () => exists(join(h.dir, '.sent', 'bob', 'report.pdf')));
        await waitFor('the mirror to be empty', () => mirror.size === 0);
        assert.deepEqual(h.outbox.queue(), []);
        const states = seen.map((e) => `${e.type}:${e.item.state}`);
        for (const step of ['added:settling', 'changed:queued', 'changed:sending', 'changed:retrying', 'removed:sending']) {
          assert.ok(states.includes(step), `${step} in ${states.join(', ')}`);
        }
        for (let i = 1; i < seen.length; i++) {
          if (seen[i]!.type === 'changed') assert.notDeepEqual(seen[i], seen[i - 1], `no event repeats the one before: ${states.join(', ')}`);
        }
      });
    });
  });
});

describe('classifyFailure', () => {
  it('puts every error code in one class: the listed ones permanent, SOURCE_CHANGED changed, the rest transient', () => {
    const permanent = [
      'PEER_REFUSED',
      'PEER_NOT_TRUSTED',
      'OFFER_TOO_LARGE',
      'OFFER_INVALID',
      'NAME_INVALID',
      'SOURCE_UNSUPPORTED',
      'SOURCE_UNREADABLE',
      'PEER_AMBIGUOUS',
      // LocalSend devices: the outbox has no PIN to give, nor a per-send opt-in to plain HTTP.
      'PIN_REQUIRED',
      'PIN_WRONG',
      'PLAIN_HTTP_REFUSED',
    ];
    assert.deepEqual([...PERMANENT_CODES].sort(), permanent.sort());
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const expected = permanent.includes(code) ? 'permanent' : code === 'SOURCE_CHANGED' ? 'changed' : 'transient';
      assert.equal(classifyFailure(code), expected, code);
    }
  });
});
