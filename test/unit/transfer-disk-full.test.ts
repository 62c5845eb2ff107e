/**
 * The disk filling up at the receiver while a file is committed (the last writes fail with ENOSPC
 * after all its data arrived): the transfer ends with DISK_FULL on both sides, never as a file
 * that "failed verification", and the data is kept for a resume when onDiskFull says "keep".
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { P2pdError } from '../../src/errors.js';
import type { OfferEntry } from '../../src/protocol/messages.js';
import { runReceiver } from '../../src/transfer/receiver.js';
import { runSender } from '../../src/transfer/sender.js';
import { receiverOptions, senderOptions } from '../helpers/session-options.js';
import type { FileSource, InboxStore, PartialFile, PreparedTransfer } from '../../src/transfer/ports.js';
import { duplexPair } from '../helpers/duplex-pair.js';

/** A store whose disk is full by the time a file is committed. */
class FullDiskStore implements InboxStore {
  readonly kept: string[] = [];
  readonly discarded: string[] = [];

  prepare(offer: { transferId: string; entries: readonly OfferEntry[] }): Promise<PreparedTransfer> {
    return Promise.resolve({
      resumeState: () => Promise.resolve(null),
      openFile: (index: number): Promise<PartialFile> => {
        const entry = offer.entries[index]!;
        return Promise.resolve({
          stream: new Writable({ write: (_c: Buffer, _e, cb) => cb() }),
          commit: () => Promise.reject(new P2pdError('DISK_FULL', 'no space left in the inbox while committing', { details: { errno: 'ENOSPC' } })),
          discard: () => {
            this.discarded.push(entry.path);
            return Promise.resolve();
          },
          keep: () => {
            this.kept.push(entry.path);
            return Promise.resolve();
          },
          journal: () => undefined,
        });
      },
      close: () => Promise.resolve(),
    });
  }
}

function source(): FileSource {
  const data = Buffer.alloc(200_000, 7);
  return {
    entries: [{ path: 'a.bin', kind: 'file', size: data.length, mode: 0o644, mtimeMs: 1_600_000_000_000, fileId: 'f'.repeat(64) }],
    async *read() {
      yield data;
    },
  };
}

describe('a disk that fills up while a file is committed', () => {
  for (const keep of [true, false]) {
    it(`ends with DISK_FULL on both sides and ${keep ? 'keeps' : 'discards'} the data (keepPartialOnDiskFull: ${keep})`, async () => {
      const [s, r] = duplexPair();
      const store = new FullDiskStore();
      const [sent, received] = await Promise.allSettled([
        runSender({ socket: s, source: source() }, senderOptions()),
        runReceiver({ socket: r, store }, receiverOptions({ keepPartialOnDiskFull: keep })),
      ]);
      assert.equal(received.status, 'rejected', 'the receiver does not report a finished transfer');
      assert.equal(((received as PromiseRejectedResult).reason as P2pdError).code, 'DISK_FULL');
      assert.equal(sent.status, 'rejected');
      assert.equal(((sent as PromiseRejectedResult).reason as P2pdError).code, 'DISK_FULL');
      assert.deepEqual(store.kept, keep ? ['a.bin'] : []);
      assert.deepEqual(store.discarded, keep ? [] : ['a.bin']);
    });
  }
});
