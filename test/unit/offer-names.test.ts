/**
 * Issue "Do what was asked", offers that can never land: names are decided per entry before
 * anyone is asked (cleaned where the meaning survives, refused alone where it cannot), and a
 * person's choices when accepting (a folder inside the inbox, renames, skips) reach the inbox.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { P2pdError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { OfferEntry } from '../../src/protocol/messages.js';
import { DestinationsInbox } from '../../src/store/destinations.js';
import { Inbox } from '../../src/store/inbox.js';
import { planOffer, reviewOffer, checkChoices, checkFolderInInbox } from '../../src/store/offer-plan.js';
import { cleanRelativePath } from '../../src/store/safe-name.js';
import { AdmissionGate, type OfferSummary, type PendingOffer } from '../../src/transfer/admission.js';
import type { AcceptChoices, FileSource } from '../../src/transfer/ports.js';
import { runReceiver } from '../../src/transfer/receiver.js';
import { runSender } from '../../src/transfer/sender.js';
import { duplexPair } from '../helpers/duplex-pair.js';

const MTIME = 1_600_000_000_000;
const file = (path: string, size = 1): OfferEntry => ({ path, kind: 'file', size, mode: 0o644, mtimeMs: MTIME });
const dir = (path: string): OfferEntry => ({ path, kind: 'dir', size: 0, mode: 0o755, mtimeMs: MTIME });

function throwsWith(fn: () => unknown, code: string, reason?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof P2pdError, String(err));
    assert.equal(err.code, code, err.message);
    if (reason !== undefined) assert.equal(err.details?.['reason'], reason, err.message);
    return true;
  });
}

describe('cleanRelativePath: the rule for received and sent names', () => {
  it('replaces control, escape, bidi and invisible characters with U+FFFD', () => {
    const cases: Array<[string, string, string[]]> = [
      ['evil\u001b[31mred.txt', 'evil\uFFFD[31mred.txt', ['control-char']],
      ['a\u0000b', 'a\uFFFDb', ['control-char']],
      ['line\nbreak', 'line\uFFFDbreak', ['control-char']],
      ['\u202Eexe.txt', '\uFFFDexe.txt', ['bidi-control']],
      ['zero\u200Bwidth', 'zero\uFFFDwidth', ['invisible-char']],
      ['lone\uD800.txt', 'lone\uFFFD.txt', ['lone-surrogate']],
      ['dir/\u0007bell', 'dir/\uFFFDbell', ['control-char']],
    ];
    for (const [raw, cleaned, repairs] of cases) {
      const result = cleanRelativePath(raw);
      assert.equal(result.path, cleaned, JSON.stringify(raw));
      assert.deepEqual(result.repairs, repairs, JSON.stringify(raw));
    }
  });

  it('suffixes reserved device names and drops trailing dots and spaces', () => {
    assert.equal(cleanRelativePath('CON').path, 'CON_');
    assert.equal(cleanRelativePath('nul.txt').path, 'nul_.txt');
    assert.equal(cleanRelativePath('dir/COM1.tar.gz').path, 'dir/COM1_.tar.gz');
    assert.equal(cleanRelativePath('name. ').path, 'name');
    assert.equal(cleanRelativePath('CON.').path, 'CON_');
    assert.deepEqual(cleanRelativePath('LPT1 .txt').repairs, ['reserved-name']);
  });

  it('leaves safe names alone (emoji joiners, flags, ordinary punctuation)', () => {
    for (const name of ['photo.jpg', 'a/b/c.txt', 'what?.txt', '👨‍👩‍👧.png', 'Wait….mp3', '-rf']) {
      const result = cleanRelativePath(name);
      assert.equal(result.path, name.normalize('NFC'));
      assert.deepEqual(result.repairs, []);
    }
  });

  it('refuses what cannot be made safe: .., absolute, empty, drive letters, backslashes, look-alikes, the store', () => {
    const cases: Array<[string, string]> = [
      ['..', 'dot-component'],
      ['a/../../x', 'dot-component'],
      ['\u0000/../x', 'dot-component'],
      ['/etc/passwd', 'absolute'],
      ['', 'empty'],
      ['C:x', 'drive-letter'],
      ['a\\b', 'backslash'],
      ['a\u2215b', 'lookalike'],
      ['...', 'dots-and-spaces'],
      ['a//b', 'empty-component'],
      ['.p2pd-partial/x', 'reserved-store-name'],
      ['.p2pd-partial./x', 'reserved-store-name'],
    ];
    for (const [raw, reason] of cases) throwsWith(() => cleanRelativePath(raw), 'NAME_INVALID', reason);
  });
});

describe('planOffer: one bad name does not sink the others', () => {
  it('cleans an escape sequence and keeps every entry', () => {
    const plan = planOffer([file('good1.txt'), file('evil\u001b[31mred.txt'), file('good2.txt')]);
    assert.equal(plan.fileCount, 3);
    assert.equal(plan.cleaned, 1);
    assert.equal(plan.refused.size, 0);
    assert.deepEqual(plan.entry(1)?.components, ['evil\uFFFD[31mred.txt']);
  });

  it('refuses a name that cannot be made safe alone, and whole only when nothing else lands', () => {
    const plan = planOffer([file('good1.txt'), file('../escape'), dir('d'), file('d/../../x'), file('d/ok')]);
    assert.deepEqual([...plan.refused.keys()], [1, 3]);
    assert.equal(plan.refused.get(1)?.code, 'NAME_INVALID');
    assert.equal(plan.refused.get(1)?.details?.['index'], 1);
    assert.equal(plan.fileCount, 2);
    assert.equal(plan.entry(1), undefined);
    assert.deepEqual(plan.entry(4)?.components, ['d', 'ok']);
    throwsWith(() => planOffer([file('../escape')]), 'NAME_INVALID', 'dot-component');
    throwsWith(() => planOffer([dir('d'), file('d/../../x')]), 'NAME_INVALID', 'dot-component');
    throwsWith(() => planOffer([dir('/abs')]), 'NAME_INVALID', 'absolute');
  });

  it('two names that clean to the same one: the later is refused alone; plain duplicates stay OFFER_INVALID', () => {
    const plan = planOffer([file('a\u0001'), file('a\u0002'), file('b')]);
    assert.equal(plan.refused.get(1)?.details?.['reason'], 'name-clash');
    assert.equal(plan.fileCount, 2);
    throwsWith(() => planOffer([file('a'), file('a')]), 'OFFER_INVALID', 'duplicate-path');
  });

  it('applies renames and skips, and refuses a rename that clashes or is not one safe name', () => {
    const entries = [dir('photos'), file('photos/a.jpg', 3), file('photos/b.jpg', 4), file('c.txt', 5)];
    const plan = planOffer(entries, {
      choices: checkChoices(entries, [
        { index: 1, rename: 'holiday.jpg' },
        { index: 3, skip: true },
      ]),
    });
    assert.deepEqual(plan.entry(1)?.components, ['photos', 'holiday.jpg']);
    assert.equal(plan.entry(3), undefined);
    assert.equal(plan.fileCount, 2);
    assert.equal(plan.fileBytes, 7);
    throwsWith(() => planOffer(entries, { choices: checkChoices(entries, [{ index: 1, rename: 'b.jpg' }]) }), 'NAME_INVALID', 'name-clash');
    throwsWith(() => checkChoices(entries, [{ index: 1, rename: '../x' }]), 'NAME_INVALID', 'dot-component');
    throwsWith(() => checkChoices(entries, [{ index: 1, rename: 'x\u001b' }]), 'NAME_INVALID', 'control-char');
    throwsWith(() => checkChoices(entries, [{ index: 1, rename: 'a/b' }]), 'USAGE');
    throwsWith(() => checkChoices(entries, [{ index: 0, skip: true }]), 'USAGE');
    throwsWith(() => checkChoices(entries, [{ index: 9, skip: true }]), 'USAGE');
  });

  it('a folder inside the inbox is checked strictly; an absolute one is not a folder inside the inbox', () => {
    assert.deepEqual(checkFolderInInbox('saved/2026'), ['saved', '2026']);
    throwsWith(() => checkFolderInInbox('../out'), 'NAME_INVALID', 'dot-component');
    throwsWith(() => checkFolderInInbox('/tmp/x'), 'NAME_INVALID', 'not-a-destination');
    const review = reviewOffer([file('a'), file('..')], { checkTo: checkFolderInInbox });
    assert.deepEqual(
      review.refused.map((r) => [r.index, r.code]),
      [[1, 'NAME_INVALID']],
    );
    assert.equal(review.landingPath(0), 'a');
    assert.equal(review.landingPath(1), undefined);
    throwsWith(() => review.checkChoices({ to: '/etc' }), 'NAME_INVALID');
  });
});

describe('the admission gate: accepting with choices', () => {
  const sender = { id: 'P1', claimedName: 'alice', protocol: 'test', verified: true };
  function makeGate(): AdmissionGate {
    return new AdmissionGate(
      { logger: silentLogger(), policy: { decide: () => 'ask', displayName: () => 'alice' } },
      { localName: 'bob', askTimeoutMs: 5000, minFreeSpace: 0, maxConcurrentIncoming: 2, limits: { maxOfferFiles: 100, maxOfferBytes: 0, maxFileSize: 0 } },
    );
  }
  const summary = (id: string, check?: (c: AcceptChoices) => void): OfferSummary => ({
    transferId: id,
    files: 2,
    bytes: 2,
    largestFile: 1,
    names: ['a', 'evil\uFFFD'],
    shown: [
      { index: 0, name: 'a', kind: 'file', size: 1 },
      { index: 1, name: 'evil\uFFFD', kind: 'file', size: 1, cleaned: true },
    ],
    refused: [{ index: 2, name: '../x', code: 'NAME_INVALID', message: 'unsafe' }],
    ...(check === undefined ? {} : { checkChoices: check }),
  });
  const waiting = (g: AdmissionGate): Promise<PendingOffer> => new Promise((resolve) => g.once('offer', resolve));

  it('the pending offer shows the cleaned names, the indexes and the refused entries', async () => {
    const g = makeGate();
    const listed = waiting(g);
    const admission = g.greet(sender);
    const answered = admission.offer(
      summary('t1', () => undefined),
      { signal: new AbortController().signal },
    );
    const pending = await listed;
    assert.deepEqual(pending.names, ['a', 'evil\uFFFD']);
    assert.equal(pending.entries?.[1]?.cleaned, true);
    assert.deepEqual(pending.refused, [{ index: 2, name: '../x', code: 'NAME_INVALID', message: 'unsafe' }]);
    g.answer('t1', true);
    assert.equal(await answered, undefined, 'the old boolean form carries no choices');
    admission.release();
  });

  it('choices are checked first (a refused choice leaves the offer waiting), then handed on', async () => {
    const g = makeGate();
    const seen: AcceptChoices[] = [];
    const listed = waiting(g);
    const admission = g.greet(sender);
    const answered = admission.offer(
      summary('t2', (c) => {
        seen.push(c);
        if (c.to === 'bad') throw new P2pdError('NAME_INVALID', 'no');
      }),
      { signal: new AbortController().signal },
    );
    await listed;
    assert.throws(() => g.answer('t2', { accept: true, to: 'bad' }), { code: 'NAME_INVALID' });
    assert.deepEqual(
      g.incoming().map((o) => o.id),
      ['t2'],
    );
    const files = [
      { index: 0, rename: 'b' },
      { index: 1, skip: true },
    ];
    g.answer('t2', { accept: true, to: 'saved', files });
    assert.deepEqual(await answered, { to: 'saved', files });
    assert.equal(seen.length, 2);
    admission.release();
  });

  it('`{ accept: false }` rejects, and choices on an offer without a check are refused', async () => {
    const g = makeGate();
    let listed = waiting(g);
    let admission = g.greet(sender);
    const rejected = admission.offer(
      summary('t3', () => undefined),
      { signal: new AbortController().signal },
    );
    await listed;
    g.answer('t3', { accept: false, to: 'ignored' });
    await assert.rejects(rejected, { code: 'PEER_REFUSED' });
    admission.release();

    listed = waiting(g);
    admission = g.greet(sender);
    const plain = admission.offer(summary('t4'), { signal: new AbortController().signal });
    await listed;
    assert.throws(() => g.answer('t4', { accept: true, to: 'x' }), { code: 'USAGE' });
    g.answer('t4', { accept: true });
    assert.equal(await plain, undefined);
    admission.release();
  });
});

describe('sender ↔ receiver with a real inbox: per-file refusal and choices', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'p2pd-names-'));
  });
  after(async () => rm(base, { recursive: true, force: true }));

  function source(files: Array<[string, string]>): FileSource {
    const entries = files.map(([path, data]) => file(path, Buffer.byteLength(data)));
    return {
      entries,
      async *read(index) {
        yield Buffer.from(files[index]![1]);
      },
    };
  }

  async function run(name: string, files: Array<[string, string]>, onOffer?: (names: string[]) => AcceptChoices | undefined) {
    const inboxDir = join(base, name);
    const inbox = new Inbox({}, { dir: inboxDir });
    await inbox.start();
    const signal = new AbortController().signal;
    const [s, r] = duplexPair();
    const common = { software: 'test', signal, handshakeTimeoutMs: 2000, idleTimeoutMs: 5000 };
    const [sent, received] = await Promise.allSettled([
      runSender({ socket: s, source: source(files) }, { ...common, transferId: `t-${name}`, localName: 'alice' }),
      runReceiver(
        { socket: r, store: inbox },
        {
          ...common,
          peerId: 'A'.repeat(52),
          localName: 'bob',
          limits: { maxOfferFiles: 100, maxOfferBytes: 0, maxFileSize: 0 },
          authorize: () => undefined,
          onOffer: (offer) => onOffer?.(offer.entries.map((_e, i) => offer.review?.landingPath(i) ?? '(refused)')),
        },
      ),
    ]);
    await inbox.stop();
    const landed = (await readdir(inboxDir, { recursive: true })).filter((n) => !n.startsWith('.p2pd-partial')).sort();
    return { sent, received, landed, inboxDir };
  }

  it('three files, one with an escape sequence: all three land, the bad one under its cleaned name', async () => {
    let shown: string[] = [];
    const { sent, landed, inboxDir } = await run(
      'escape',
      [
        ['good1.txt', 'one'],
        ['evil\u001b[31mred.txt', 'bad'],
        ['good2.txt', 'two'],
      ],
      (names) => {
        shown = names;
        return undefined;
      },
    );
    assert.equal(sent.status, 'fulfilled');
    assert.equal((sent as PromiseFulfilledResult<{ ok: boolean }>).value.ok, true);
    assert.deepEqual(shown, ['good1.txt', 'evil\uFFFD[31mred.txt', 'good2.txt'], 'the person sees the cleaned name');
    assert.deepEqual(landed, ['evil\uFFFD[31mred.txt', 'good1.txt', 'good2.txt']);
    assert.equal(await readFile(join(inboxDir, 'evil\uFFFD[31mred.txt'), 'utf8'), 'bad');
  });

  it('three files, one that cannot be made safe: the two good ones land, the bad one is refused alone', async () => {
    const { sent, received, landed } = await run('dotdot', [
      ['good1.txt', 'one'],
      ['../escape.txt', 'bad'],
      ['good2.txt', 'two'],
    ]);
    assert.deepEqual(landed, ['good1.txt', 'good2.txt']);
    const result = (sent as PromiseFulfilledResult<{ ok: boolean; files: Array<{ index: number; ok: boolean; error?: { code: string } }> }>).value;
    assert.equal(result.ok, false);
    assert.deepEqual(
      result.files.map((f) => [f.index, f.ok, f.error?.code]),
      [
        [0, true, undefined],
        [1, false, 'NAME_INVALID'],
        [2, true, undefined],
      ],
    );
    const rec = (received as PromiseFulfilledResult<{ files: Array<{ index: number; ok: boolean }> }>).value;
    assert.deepEqual(
      rec.files.map((f) => [f.index, f.ok]),
      [
        [0, true],
        [1, false],
        [2, true],
      ],
    );
  });

  it('choices: a folder inside the inbox, a rename and a skip', async () => {
    const { sent, landed, inboxDir } = await run(
      'choices',
      [
        ['a.txt', 'A'],
        ['b.txt', 'B'],
        ['c.txt', 'C'],
      ],
      () => ({
        to: 'saved/today',
        files: [
          { index: 0, rename: 'renamed.txt' },
          { index: 2, skip: true },
        ],
      }),
    );
    assert.deepEqual(landed, ['saved', 'saved/today', 'saved/today/b.txt', 'saved/today/renamed.txt']);
    assert.equal(await readFile(join(inboxDir, 'saved/today/renamed.txt'), 'utf8'), 'A');
    const result = (sent as PromiseFulfilledResult<{ files: Array<{ index: number; ok: boolean; error?: { code: string } }> }>).value;
    assert.deepEqual(
      result.files.map((f) => [f.index, f.ok, f.error?.code]),
      [
        [0, true, undefined],
        [1, true, undefined],
        [2, false, 'PEER_REFUSED'],
      ],
    );
  });

  it('a chosen folder is never reached through a symlink in the inbox', async () => {
    const inboxDir = join(base, 'link');
    const outside = join(base, 'outside');
    const inbox = new Inbox({}, { dir: inboxDir });
    await inbox.start();
    await rm(outside, { recursive: true, force: true });
    await symlink(base, join(inboxDir, 'saved'));
    const prepared = inbox.prepare(
      { transferId: 't1', entries: [file('a.txt')], sender: { id: 'x', name: 'x' }, choices: { to: 'saved/outside' } },
      { signal: new AbortController().signal },
    );
    await assert.rejects(prepared, (err: P2pdError) => err.code === 'NAME_INVALID' && err.details?.['reason'] === 'symlink-in-path');
    await assert.rejects(readdir(outside), { code: 'ENOENT' });
    await inbox.stop();
  });
});

describe('DestinationsInbox: `to` is a folder inside the inbox or a configured destination', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'p2pd-dest-'));
  });
  after(async () => rm(base, { recursive: true, force: true }));

  it('routes an absolute `to` to its own inbox (savedAs absolute), refuses one not configured', async () => {
    const inner = new Inbox({}, { dir: join(base, 'inbox') });
    const media = join(base, 'media');
    const router = new DestinationsInbox({ inbox: inner }, { destinations: [`${media}/`] });
    await router.start();
    const signal = new AbortController().signal;
    const entries = [file('a.txt', 2), file('b.txt', 2)];
    const review = router.review(entries);
    review.checkChoices({ to: media });
    review.checkChoices({ to: 'inside/folder' });
    throwsWith(() => review.checkChoices({ to: join(base, 'elsewhere') }), 'NAME_INVALID', 'not-a-destination');
    throwsWith(() => review.checkChoices({ to: '../inbox2' }), 'NAME_INVALID', 'dot-component');

    const prepared = await router.prepare(
      { transferId: 't1', entries, sender: { id: 'x', name: 'x' }, choices: { to: media, files: [{ index: 1, skip: true }] } },
      { signal },
    );
    const partial = await prepared.openFile(0, { signal });
    partial.stream.end(Buffer.from('hi'));
    await new Promise((resolve) => partial.stream.once('finish', resolve));
    assert.equal(await partial.commit({ signal }), join(media, 'a.txt'));
    await assert.rejects(prepared.openFile(1, { signal }), { code: 'OFFER_INVALID' });
    await prepared.close();
    assert.equal(await readFile(join(media, 'a.txt'), 'utf8'), 'hi');
    assert.deepEqual((await readdir(join(base, 'inbox'))).sort(), ['.p2pd-partial']);
    await router.stop();
  });
});
