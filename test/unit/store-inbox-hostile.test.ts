/**
 * Another local user against the inbox: a folder others can write, a symlink planted at a per-peer
 * folder or at a predicted partial name, a swapped partial directory, a partial replaced between
 * write and commit, kept resume data modified between attempts. Run as root, "another user" is
 * uid 65534 (files are chowned to it); as anyone else those cases are skipped.
 */
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, chown, lstat, mkdir, mkdtemp, open, readFile, readdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_SIZE, type OfferEntry } from '../../src/protocol/messages.js';
import type { PartialFile, PreparedTransfer } from '../../src/transfer/ports.js';
import { Inbox, PARTIAL_DIR_NAME } from '../../src/store/index.js';
import { PerPeerInbox } from '../../src/store/per-peer-inbox.js';
import { rejectsWith } from '../helpers/rejects-with.js';

const signal = new AbortController().signal;
const asRoot = process.getuid?.() === 0 ? false : 'needs root to make files of another user';
const KEY = 'ab'.repeat(20);
const sender = { id: 'a'.repeat(52), name: 'bob' };

function file(path: string, size: number): OfferEntry {
  return { path, kind: 'file', size, mode: 0o644, mtimeMs: 1_600_000_000_000 };
}

/** Writes `data` to a partial file and waits until it reached the descriptor. */
async function write(partial: PartialFile, data: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => partial.stream.write(data, (err) => (err ? reject(err) : resolve())));
}

function blocks(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n * BLOCK_SIZE);
  for (let i = 0; i < b.length; i += 4096) b[i] = (seed + i / 4096) & 0xff;
  return b;
}

const digest = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

describe('hostile: the inbox against another local user', () => {
  let base: string;
  let inboxDir: string;
  const open_: Array<{ stop(): Promise<void> }> = [];

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'p2pd-hostile-inbox-'));
    inboxDir = join(base, 'inbox');
  });
  afterEach(async () => {
    for (const s of open_.splice(0)) await s.stop();
    await rm(base, { recursive: true, force: true });
  });
  after(() => undefined);

  async function started(options: { minFreeSpace?: number; warnings?: string[] } = {}): Promise<Inbox> {
    const warnings = options.warnings;
    const logger = { warn: (_o: object, msg?: string) => warnings?.push(msg ?? ''), debug() {} };
    const inbox = new Inbox({ logger }, { dir: inboxDir, ...(options.minFreeSpace === undefined ? {} : { minFreeSpace: options.minFreeSpace }) });
    await inbox.start();
    open_.push(inbox);
    return inbox;
  }

  it('refuses an inbox that group or others can write (sticky or not)', async () => {
    for (const mode of [0o777, 0o1777, 0o775]) {
      await mkdir(inboxDir, { recursive: true });
      await chmod(inboxDir, mode);
      await rejectsWith(new Inbox({}, { dir: inboxDir }).start(), 'INBOX_UNWRITABLE', 'writable-by-others');
    }
  });

  it('accepts an inbox of ours made by hand with mode 0755', async () => {
    await mkdir(inboxDir, { mode: 0o755 });
    await chmod(inboxDir, 0o755);
    await started();
  });

  it('refuses an inbox that belongs to another user', { skip: asRoot }, async () => {
    await mkdir(inboxDir, { mode: 0o755 });
    await chown(inboxDir, 65534, 65534);
    await rejectsWith(new Inbox({}, { dir: inboxDir }).start(), 'INBOX_UNWRITABLE', 'foreign-owner');
  });

  it('refuses a partial directory that belongs to another user', { skip: asRoot }, async () => {
    await mkdir(join(inboxDir, PARTIAL_DIR_NAME), { recursive: true, mode: 0o700 });
    await chown(join(inboxDir, PARTIAL_DIR_NAME), 65534, 65534);
    await rejectsWith(new Inbox({}, { dir: inboxDir }).start(), 'INBOX_UNWRITABLE', 'foreign-owner');
  });

  it('inboxPerPeer: a symlink planted at <inbox>/bob is refused, nothing lands in its target', async () => {
    const elsewhere = join(base, 'elsewhere');
    await mkdir(elsewhere, { mode: 0o700 });
    await mkdir(inboxDir, { mode: 0o700 });
    await symlink(elsewhere, join(inboxDir, 'bob'));
    const store = new PerPeerInbox({}, { dir: inboxDir });
    await store.start();
    open_.push(store);
    await rejectsWith(store.prepare({ transferId: 'x1', entries: [file('a.txt', 1)], sender }, { signal }), 'INBOX_UNWRITABLE', 'symlink');
    assert.deepEqual(await readdir(elsewhere), [], 'neither files nor .p2pd-partial in the link target');
  });

  it('inboxPerPeer: refuses an inbox others can write', async () => {
    await mkdir(inboxDir, { mode: 0o700 });
    await chmod(inboxDir, 0o777);
    await rejectsWith(new PerPeerInbox({}, { dir: inboxDir }).start(), 'INBOX_UNWRITABLE', 'writable-by-others');
  });

  it('a swapped .p2pd-partial with a symlink at the predicted resume name: no write through it', async () => {
    const inbox = await started();
    const victim = join(base, 'victim');
    await writeFile(victim, 'root-owned content');
    const partialDir = join(inboxDir, PARTIAL_DIR_NAME);
    await rename(partialDir, join(base, 'moved'));
    await mkdir(partialDir, { mode: 0o700 });
    await symlink(victim, join(partialDir, `r-${KEY}.part`));
    const prepared = await inbox.prepare({ transferId: 'x2', entries: [file('a.bin', 10)], sender }, { signal });
    await rejectsWith(prepared.openFile(0, { signal, resumeKey: KEY, offset: 0 }), 'INBOX_UNWRITABLE', 'partial-dir-replaced');
    await rejectsWith(prepared.openFile(0, { signal }), 'INBOX_UNWRITABLE', 'partial-dir-replaced');
    assert.equal(await readFile(victim, 'utf8'), 'root-owned content');
    await prepared.close();
  });

  it('a symlink planted at the resume name in the partial directory is never followed', async () => {
    const inbox = await started();
    const victim = join(base, 'victim');
    await writeFile(victim, 'root-owned content');
    await symlink(victim, join(inboxDir, PARTIAL_DIR_NAME, `r-${KEY}.part`));
    await symlink(victim, join(inboxDir, PARTIAL_DIR_NAME, `r-${KEY}.blocks`));
    const prepared = await inbox.prepare({ transferId: 'x3', entries: [file('a.bin', 10)], sender }, { signal });
    assert.deepEqual(await prepared.resumeState!(KEY), { bytes: 0, journal: Buffer.alloc(0) });
    await rejectsWith(prepared.openFile(0, { signal, resumeKey: KEY, offset: 0 }), 'INBOX_UNWRITABLE', 'symlink');
    assert.equal(await readFile(victim, 'utf8'), 'root-owned content');
    await prepared.close();
  });

  it('a partial file replaced by a symlink before commit is not placed (no symlink reported as a file)', async () => {
    const inbox = await started();
    const victim = join(base, 'victim');
    await writeFile(victim, 'secret!!!!');
    const prepared: PreparedTransfer = await inbox.prepare({ transferId: 'x4', entries: [file('a.bin', 10)], sender }, { signal });
    const partial = await prepared.openFile(0, { signal });
    await write(partial, Buffer.from('0123456789'));
    const dir = join(inboxDir, PARTIAL_DIR_NAME);
    const name = (await readdir(dir)).find((n) => n.endsWith('.part'))!;
    await unlink(join(dir, name));
    await symlink(victim, join(dir, name));
    await rejectsWith(partial.commit({ signal }), 'INBOX_UNWRITABLE', 'replaced');
    const landed = await lstat(join(inboxDir, 'a.bin')).catch(() => undefined);
    assert.equal(landed, undefined, 'nothing under the final name');
    await prepared.close();
  });

  it('a partial file with a second (hard) link is refused at open', async () => {
    const inbox = await started();
    const prepared = await inbox.prepare({ transferId: 'x5', entries: [file('a.bin', 10)], sender }, { signal });
    const victim = join(base, 'victim');
    await writeFile(victim, 'x');
    const { link } = await import('node:fs/promises');
    await link(victim, join(inboxDir, PARTIAL_DIR_NAME, `r-${KEY}.part`));
    await rejectsWith(prepared.openFile(0, { signal, resumeKey: KEY, offset: 0 }), 'INBOX_UNWRITABLE', 'not-our-file');
    assert.equal(await readFile(victim, 'utf8'), 'x');
    await prepared.close();
  });

  it('resume: kept data modified between attempts is trusted only up to the first changed block', async () => {
    const inbox = await started();
    const data = blocks(3, 7);
    const entries = [file('big.bin', data.length + 100)];
    const first = await inbox.prepare({ transferId: 'r1', entries, sender }, { signal });
    const partial = await first.openFile(0, { signal, resumeKey: KEY, offset: 0 });
    await write(partial, data);
    for (let b = 0; b < 3; b++) partial.journal!(digest(data.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE)));
    await partial.keep!();
    await first.close();
    // Someone changes the second block of the kept file.
    const fh = await open(join(inboxDir, PARTIAL_DIR_NAME, `r-${KEY}.part`), 'r+');
    await fh.write(Buffer.from('tampered'), 0, 8, BLOCK_SIZE + 10);
    await fh.close();
    const second = await inbox.prepare({ transferId: 'r2', entries, sender }, { signal });
    const state = await second.resumeState!(KEY);
    assert.equal(state?.bytes, BLOCK_SIZE, 'only the first block is trusted');
    assert.equal(state?.journal.length, 32);
    await rejectsWith(second.openFile(0, { signal, resumeKey: KEY, offset: 2 * BLOCK_SIZE }), 'INTERNAL');
    const resumed = await second.openFile(0, { signal, resumeKey: KEY, offset: BLOCK_SIZE });
    await resumed.discard();
    await second.close();
  });

  it('a failed attempt with less than a block leaves no 0-byte .part or .blocks behind', async () => {
    const inbox = await started();
    const prepared = await inbox.prepare({ transferId: 'k1', entries: [file('a.bin', 5 * BLOCK_SIZE)], sender }, { signal });
    const partial = await prepared.openFile(0, { signal, resumeKey: KEY, offset: 0 });
    await partial.keep!();
    await prepared.close();
    assert.deepEqual(
      (await readdir(join(inboxDir, PARTIAL_DIR_NAME))).filter((n) => n.startsWith('r-')),
      [],
    );
  });

  it('start() removes 0-byte resume leftovers of an earlier run', async () => {
    await mkdir(join(inboxDir, PARTIAL_DIR_NAME), { recursive: true, mode: 0o700 });
    await writeFile(join(inboxDir, PARTIAL_DIR_NAME, `r-${KEY}.part`), '');
    await writeFile(join(inboxDir, PARTIAL_DIR_NAME, `r-${KEY}.blocks`), '');
    await started();
    assert.deepEqual(await readdir(join(inboxDir, PARTIAL_DIR_NAME)), []);
  });

  it('start() warns when the inbox file system is smaller than limits.minFreeSpace', async () => {
    const warnings: string[] = [];
    await started({ minFreeSpace: Number.MAX_SAFE_INTEGER, warnings });
    assert.ok(
      warnings.some((w) => w.includes('limits.minFreeSpace')),
      warnings.join('\n'),
    );
  });
});
