/**
 * The sender's block digests kept across attempts: a resume reads and hashes nothing before the
 * agreed offset, and the file still verifies end to end at the receiver.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { BLOCK_SIZE, type OfferEntry } from '../../src/protocol/messages.js';
import { BlockDigestCache } from '../../src/transfer/digest-cache.js';
import { HashWorker } from '../../src/transfer/hash-offload.js';
import { runReceiver } from '../../src/transfer/receiver.js';
import { runSender } from '../../src/transfer/sender.js';
import type { FileSource, InboxStore, PartialFile, PreparedTransfer } from '../../src/transfer/ports.js';
import { duplexPair } from '../helpers/duplex-pair.js';

const data = Buffer.alloc(3 * BLOCK_SIZE + 12_345);
for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) & 0xff;
const digests = [0, 1, 2].map((b) =>
  createHash('sha256')
    .update(data.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE))
    .digest(),
);

/** A source that records where each read started. */
function source(starts: number[]): FileSource {
  return {
    entries: [{ path: 'a.bin', kind: 'file', size: data.length, mode: 0o644, mtimeMs: 1_600_000_000_000, fileId: 'f'.repeat(64) }],
    canStart: true,
    async *read(_index, options) {
      const start = options.start ?? 0;
      starts.push(start);
      for (let at = start; at < data.length; at += BLOCK_SIZE) yield data.subarray(at, Math.min(at + BLOCK_SIZE, data.length));
    },
  };
}

/** A store that kept `keptBlocks` blocks of the file from an earlier attempt (with their journal). */
class KeptStore implements InboxStore {
  received = Buffer.alloc(0);
  constructor(readonly keptBlocks: number) {}

  prepare(offer: { entries: readonly OfferEntry[] }): Promise<PreparedTransfer> {
    const kept = this.keptBlocks;
    return Promise.resolve({
      resumeState: () => Promise.resolve(kept === 0 ? null : { bytes: kept * BLOCK_SIZE, journal: Buffer.concat(digests.slice(0, kept)) }),
      openFile: (_index: number, options: { offset?: number }): Promise<PartialFile> => {
        const parts: Buffer[] = [data.subarray(0, options.offset ?? 0)];
        return Promise.resolve({
          stream: new Writable({
            write: (c: Buffer, _e, cb) => {
              parts.push(Buffer.from(c));
              cb();
            },
          }),
          commit: () => {
            this.received = Buffer.concat(parts);
            return Promise.resolve(offer.entries[0]!.path);
          },
          discard: () => Promise.resolve(),
          journal: () => undefined,
        });
      },
      close: () => Promise.resolve(),
    });
  }
}

async function send(store: KeptStore, cache: BlockDigestCache, starts: number[], hashWorker?: HashWorker): Promise<boolean> {
  const [s, r] = duplexPair();
  const signal = new AbortController().signal;
  const common = {
    localName: 'x',
    software: 'test',
    signal,
    handshakeTimeoutMs: 2000,
    idleTimeoutMs: 5000,
    ...(hashWorker === undefined ? {} : { hashWorker }),
  };
  const [sent] = await Promise.all([
    runSender({ socket: s, source: source(starts) }, { ...common, transferId: 't1', digests: cache }),
    runReceiver(
      { socket: r, store },
      { ...common, peerId: 'A'.repeat(52), limits: { maxOfferFiles: 10, maxOfferBytes: 0, maxFileSize: 0 }, authorize: () => undefined },
    ),
  ]);
  return sent.ok;
}

describe('the sender keeps its block digests for a resume', () => {
  it('a resume after a first attempt reads only from the offset on, and the file verifies', async () => {
    const cache = new BlockDigestCache();
    const starts: number[] = [];
    assert.equal(await send(new KeptStore(0), cache, starts), true);
    const resumed = new KeptStore(2);
    assert.equal(await send(resumed, cache, starts), true);
    assert.deepEqual(starts, [0, 2 * BLOCK_SIZE], 'the second attempt starts reading at the offset');
    assert.ok(resumed.received.equals(data));
  });

  it('with blocks hashed on a worker thread on both sides, the resume and its verification hold', async () => {
    const worker = new HashWorker();
    try {
      const cache = new BlockDigestCache();
      const starts: number[] = [];
      assert.equal(await send(new KeptStore(0), cache, starts, worker), true);
      const resumed = new KeptStore(2);
      assert.equal(await send(resumed, cache, starts, worker), true);
      assert.deepEqual(starts, [0, 2 * BLOCK_SIZE]);
      assert.ok(resumed.received.equals(data));
    } finally {
      await worker.stop();
    }
  });

  it('without the digests (a restarted daemon) the prefix is read again and the file still verifies', async () => {
    const starts: number[] = [];
    const resumed = new KeptStore(2);
    assert.equal(await send(resumed, new BlockDigestCache(), starts), true);
    assert.deepEqual(starts, [0]);
    assert.ok(resumed.received.equals(data));
  });

  it('prefix() answers only when every block before the offset is known; old files are evicted', () => {
    const cache = new BlockDigestCache({ maxDigests: 3 });
    const add = cache.record('a', []);
    add(digests[0]!);
    add(digests[1]!);
    assert.equal(cache.prefix('a', 2 * BLOCK_SIZE)?.length, 2);
    assert.equal(cache.prefix('a', 3 * BLOCK_SIZE), undefined);
    assert.equal(cache.prefix('a', 1000), undefined, 'not a block boundary');
    const addB = cache.record('b', []);
    addB(digests[0]!);
    cache.record('c', [digests[0]!, digests[1]!]);
    assert.equal(cache.prefix('a', BLOCK_SIZE), undefined, 'the oldest file made room');
    assert.equal(cache.prefix('c', 2 * BLOCK_SIZE)?.length, 2);
  });

  it('a full cache makes room for the file being sent, and keeps nothing for files that cannot resume', () => {
    const cache = new BlockDigestCache({ maxDigests: 3 });
    const add = cache.record('a', []);
    for (const d of digests) add(d);
    const addB = cache.record('b', []);
    addB(digests[0]!);
    assert.equal(cache.prefix('b', BLOCK_SIZE)?.length, 1, 'the newest file still records');
    assert.equal(cache.prefix('a', BLOCK_SIZE), undefined, 'the oldest one made room');
    add(digests[0]!);
    assert.equal(cache.size, 1, 'an evicted file records nothing more');
    assert.equal(BlockDigestCache.worthKeeping(BLOCK_SIZE), false, 'one block or less always starts at 0');
    assert.equal(BlockDigestCache.worthKeeping(BLOCK_SIZE + 1), true);
  });
});
