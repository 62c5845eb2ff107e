import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { P2pdError } from '../../src/errors.js';
import type { OfferEntry } from '../../src/protocol/messages.js';
import { CommitQueue } from '../../src/transfer/commit-queue.js';
import type { FileOutcome } from '../../src/transfer/progress.js';
import { runReceiver } from '../../src/transfer/receiver.js';
import { runSender } from '../../src/transfer/sender.js';
import { memoryPartialFile } from '../helpers/memory-partial-file.js';
import { receiverOptions, senderOptions } from '../helpers/session-options.js';
import type { FileSource, InboxStore, PartialFile, PreparedTransfer } from '../../src/transfer/ports.js';
import { duplexPair } from '../helpers/duplex-pair.js';

/** A promise with its resolve and reject, to finish commits in an order the test chooses. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((res) => setImmediate(res));

describe('CommitQueue', () => {
  const wide = { maxFiles: 100, maxBytes: 1e9, maxHeldBytes: 1e9 };

  it('sends results in the order the files came, whatever order the commits finish in', async () => {
    const sent: FileOutcome[] = [];
    const queue = new CommitQueue({ onResult: (o) => sent.push(o) }, wide);
    const jobs = [0, 1, 2, 3].map(() => deferred<string>());
    for (const [i, job] of jobs.entries())
      await queue.add(
        { index: i, path: `f${i}`, bytes: 1, held: 1 },
        () => job.promise,
        async () => undefined,
      );
    jobs[3]!.resolve('f3');
    jobs[1]!.resolve('f1');
    await tick();
    assert.equal(sent.length, 0, 'nothing before file 0');
    jobs[0]!.resolve('f0');
    await tick();
    assert.deepEqual(
      sent.map((o) => o.index),
      [0, 1],
    );
    jobs[2]!.resolve('f2');
    await queue.drain();
    assert.deepEqual(
      sent.map((o) => [o.index, o.ok, o.savedAs]),
      [
        [0, true, 'f0'],
        [1, true, 'f1'],
        [2, true, 'f2'],
        [3, true, 'f3'],
      ],
    );
  });

  it('a failure in the middle of a batch is reported for that file only, after its cleanup', async () => {
    const sent: FileOutcome[] = [];
    const cleaned: number[] = [];
    const queue = new CommitQueue({ onResult: (o) => sent.push(o) }, wide);
    for (let i = 0; i < 5; i++) {
      const commit = async (): Promise<string> => {
        await tick();
        if (i === 2) throw new P2pdError('HASH_MISMATCH', 'bad');
        if (i === 3) throw new Error('plain');
        return `f${i}`;
      };
      await queue.add({ index: i, path: `f${i}`, bytes: 1, held: 0 }, commit, async () => void cleaned.push(i));
    }
    await queue.drain();
    assert.deepEqual(
      sent.map((o) => [o.index, o.ok, o.error?.code]),
      [
        [0, true, undefined],
        [1, true, undefined],
        [2, false, 'HASH_MISMATCH'],
        [3, false, 'INBOX_UNWRITABLE'],
        [4, true, undefined],
      ],
    );
    assert.deepEqual(cleaned, [2, 3]);
  });

  it('holds at most maxHeldBytes of small files (and maxFiles): add() waits for the oldest', async () => {
    const queue = new CommitQueue({ onResult: () => undefined }, { maxFiles: 100, maxBytes: 1e9, maxHeldBytes: 10 });
    const jobs = [0, 1, 2].map(() => deferred<string>());
    await queue.add(
      { index: 0, path: 'a', bytes: 4, held: 4 },
      () => jobs[0]!.promise,
      async () => undefined,
    );
    await queue.add(
      { index: 1, path: 'b', bytes: 4, held: 4 },
      () => jobs[1]!.promise,
      async () => undefined,
    );
    let third = false;
    const adding = queue
      .add(
        { index: 2, path: 'c', bytes: 4, held: 4 },
        () => jobs[2]!.promise,
        async () => undefined,
      )
      .then(() => (third = true));
    await tick();
    assert.equal(third, false, '12 bytes held is over the bound of 10');
    assert.equal(queue.inFlight.held, 12);
    jobs[0]!.resolve('a');
    await adding;
    assert.equal(queue.inFlight.held, 8);
    jobs[1]!.resolve('b');
    jobs[2]!.resolve('c');
    await queue.drain();
    assert.deepEqual(queue.inFlight, { files: 0, bytes: 0, held: 0 });

    const byCount = new CommitQueue({ onResult: () => undefined }, { maxFiles: 2, maxBytes: 1e9, maxHeldBytes: 1e9 });
    const slow = deferred<string>();
    await byCount.add(
      { index: 0, path: 'a', bytes: 0, held: 0 },
      () => slow.promise,
      async () => undefined,
    );
    let second = false;
    const adding2 = byCount
      .add(
        { index: 1, path: 'b', bytes: 0, held: 0 },
        async () => 'b',
        async () => undefined,
      )
      .then(() => (second = true));
    await tick();
    assert.equal(second, false);
    slow.resolve('a');
    await adding2;
    await byCount.drain();
  });

  it('settle() waits for every commit and never rejects, even when sending a result failed', async () => {
    const queue = new CommitQueue(
      {
        onResult: () => {
          throw new Error('socket gone');
        },
      },
      wide,
    );
    const job = deferred<string>();
    let finished = false;
    await queue.add(
      { index: 0, path: 'a', bytes: 0, held: 0 },
      () => job.promise.then((v) => ((finished = true), v)),
      async () => undefined,
    );
    setTimeout(() => job.resolve('a'), 20);
    await queue.settle();
    assert.equal(finished, true);
    await assert.rejects(queue.drain());
  });
});

/** A store that saves small files whole (like the inbox), each after a delay the test picks. */
class SmallFileStore implements InboxStore {
  readonly files = new Map<string, Buffer>();
  readonly savedWhole: number[] = [];
  readonly opened: number[] = [];
  readonly sawAbort: number[] = [];
  delay: (index: number) => number = () => 0;
  fail: (index: number) => P2pdError | undefined = () => undefined;

  async prepare(offer: { entries: readonly OfferEntry[] }): Promise<PreparedTransfer> {
    return {
      openFile: async (index: number): Promise<PartialFile> => {
        this.opened.push(index);
        const path = offer.entries[index]!.path;
        return memoryPartialFile(path, (data) => this.files.set(path, data));
      },
      saveSmallFile: async (index, data, { signal }) => {
        this.savedWhole.push(index);
        await new Promise((res) => setTimeout(res, this.delay(index)));
        if (signal.aborted) {
          this.sawAbort.push(index);
          throw signal.reason;
        }
        const failure = this.fail(index);
        if (failure !== undefined) throw failure;
        this.files.set(offer.entries[index]!.path, Buffer.from(data));
        return offer.entries[index]!.path;
      },
      close: async () => undefined,
    };
  }
}

function source(files: Array<[string, Buffer]>): FileSource {
  const entries: OfferEntry[] = files.map(([path, b]) => ({ path, kind: 'file', size: b.length, mode: 0o644, mtimeMs: 0 }));
  return {
    entries,
    async *read(index) {
      const buf = files[index]![1];
      for (let i = 0; i < buf.length; i += 100_000) yield buf.subarray(i, Math.min(buf.length, i + 100_000));
    },
  };
}

describe('receiver: small files pipelined', () => {
  it('saves files of one block or less whole, streams bigger ones, and reports results in order', async () => {
    const files: Array<[string, Buffer]> = [];
    for (let i = 0; i < 300; i++) files.push([`d${i % 7}/f${i}`, Buffer.alloc(i % 5 === 0 ? 0 : 4096, i)]);
    files.push(['exactly-one-block', Buffer.alloc(1024 * 1024, 1)], ['over-one-block', Buffer.alloc(1024 * 1024 + 1, 2)]);
    const store = new SmallFileStore();
    // Later files finish first: results must still come in order.
    store.delay = (i) => (i % 3) * 3;
    const seen: number[] = [];
    const [s, r] = duplexPair();
    const [sent, received] = await Promise.all([
      runSender({ socket: s, source: source(files) }, senderOptions()),
      runReceiver({ socket: r, store }, receiverOptions({ onFile: (o) => seen.push(o.index) })),
    ]);
    assert.equal(sent.ok, true);
    assert.equal(received.ok, true);
    assert.deepEqual(
      seen,
      files.map((_, i) => i),
    );
    assert.deepEqual(store.opened, [301], 'only the file over one block is streamed');
    assert.equal(store.savedWhole.length, 301);
    for (const [path, buf] of files) assert.deepEqual(store.files.get(path), buf, path);
  });

  it('one small file failing in the middle does not hide the others', async () => {
    const files: Array<[string, Buffer]> = [];
    for (let i = 0; i < 50; i++) files.push([`f${i}`, Buffer.alloc(100, i)]);
    const store = new SmallFileStore();
    store.fail = (i) => (i === 20 ? new P2pdError('INBOX_UNWRITABLE', 'no') : undefined);
    const [s, r] = duplexPair();
    const [sent, received] = await Promise.all([
      runSender({ socket: s, source: source(files) }, senderOptions()),
      runReceiver({ socket: r, store }, receiverOptions()),
    ]);
    assert.equal(received.ok, false);
    assert.equal(sent.ok, false);
    assert.equal(sent.files.length, 50);
    assert.deepEqual(
      sent.files.filter((f) => !f.ok).map((f) => [f.index, f.error?.code]),
      [[20, 'INBOX_UNWRITABLE']],
    );
    assert.equal(store.files.size, 49);
  });

  it('an abort while small files are being saved ends the transfer; runReceiver returns after they settled', async () => {
    const files: Array<[string, Buffer]> = [];
    for (let i = 0; i < 40; i++) files.push([`f${i}`, Buffer.alloc(10, i)]);
    const store = new SmallFileStore();
    store.delay = () => 200;
    const controller = new AbortController();
    const [s, r] = duplexPair();
    const receiving = runReceiver({ socket: r, store }, receiverOptions({ signal: controller.signal }));
    const sending = runSender({ socket: s, source: source(files) }, senderOptions());
    setTimeout(() => controller.abort(new P2pdError('TRANSFER_CANCELLED', 'stop')), 50);
    const [sent, received] = await Promise.allSettled([sending, receiving]);
    assert.equal((received as PromiseRejectedResult).reason.code, 'TRANSFER_CANCELLED');
    assert.equal(sent.status, 'rejected');
    assert.ok(store.savedWhole.length > 0);
    // Every job that had started saw the abort before runReceiver returned; none placed a file after it.
    assert.equal(store.sawAbort.length, store.savedWhole.length);
    assert.equal(store.files.size, 0);
  });
});
