/** Sender and receiver sessions against each other over an in-memory pipe, with a fake store. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { P2pdError } from '../../src/errors.js';
import { encodeMessage, encodeOffer, encodePreface, encodeDataHeader } from '../../src/protocol/codec.js';
import type { OfferEntry } from '../../src/protocol/messages.js';
import { runReceiver, type ReceiverOptions } from '../../src/transfer/receiver.js';
import { runSender } from '../../src/transfer/sender.js';
import { memoryPartialFile } from '../helpers/memory-partial-file.js';
import { receiverOptions, senderOptions } from '../helpers/session-options.js';
import type { FileSource, InboxStore, PartialFile, PreparedTransfer } from '../../src/transfer/ports.js';
import { readEvents } from '../../src/transfer/frame-io.js';
import { duplexPair } from '../helpers/duplex-pair.js';

/** A store that keeps committed files in a map. */
class MemoryStore implements InboxStore {
  readonly files = new Map<string, Buffer>();
  readonly discarded: string[] = [];
  closed = 0;
  refuse: P2pdError | undefined;

  async prepare(offer: { transferId: string; entries: readonly OfferEntry[] }): Promise<PreparedTransfer> {
    if (this.refuse) throw this.refuse;
    return {
      openFile: async (index: number): Promise<PartialFile> => {
        const path = offer.entries[index]!.path;
        return memoryPartialFile(
          path,
          (data) => this.files.set(path, data),
          () => this.discarded.push(path),
        );
      },
      close: async () => {
        this.closed++;
      },
    };
  }
}

function memorySource(files: Record<string, Buffer>): FileSource {
  const names = Object.keys(files);
  const entries: OfferEntry[] = names.map((path) => ({ path, kind: 'file', size: files[path]!.length, mode: 0o644, mtimeMs: 1_600_000_000_000 }));
  return {
    entries,
    async *read(index) {
      const buf = files[names[index]!]!;
      for (let i = 0; i < buf.length; i += 100_000) yield buf.subarray(i, Math.min(buf.length, i + 100_000));
    },
  };
}

describe('sender ↔ receiver over an in-memory pipe', () => {
  it('moves many files, including an empty one, and both sides agree', async () => {
    const files: Record<string, Buffer> = { 'a.txt': Buffer.from('hello'), empty: Buffer.alloc(0) };
    for (let i = 0; i < 200; i++) files[`many/${i}.bin`] = Buffer.alloc(i * 37, i);
    files['big.bin'] = Buffer.alloc(3_000_000, 9);
    const [s, r] = duplexPair();
    const store = new MemoryStore();
    const [sent, received] = await Promise.all([
      runSender({ socket: s, source: memorySource(files) }, senderOptions()),
      runReceiver({ socket: r, store }, receiverOptions()),
    ]);
    assert.equal(sent.ok, true);
    assert.equal(received.ok, true);
    assert.equal(sent.files.length, Object.keys(files).length);
    for (const [name, buf] of Object.entries(files)) assert.deepEqual(store.files.get(name), buf, name);
    assert.equal(store.closed, 1);
  });

  it('a refusal by the peer policy reaches the sender with its code', async () => {
    const [s, r] = duplexPair();
    const store = new MemoryStore();
    const refuse = new P2pdError('PEER_NOT_TRUSTED', 'bob does not accept files from alice yet');
    const [sent, received] = await Promise.allSettled([
      runSender({ socket: s, source: memorySource({ x: Buffer.from('x') }) }, senderOptions()),
      runReceiver(
        { socket: r, store },
        receiverOptions({
          authorize: () => {
            throw refuse;
          },
        }),
      ),
    ]);
    assert.equal(sent.status, 'rejected');
    assert.equal((sent as PromiseRejectedResult).reason.code, 'PEER_NOT_TRUSTED');
    assert.equal((received as PromiseRejectedResult).reason.code, 'PEER_NOT_TRUSTED');
    assert.equal(store.files.size, 0);
  });

  it('an offer over the limits is refused before any data', async () => {
    const [s, r] = duplexPair();
    const store = new MemoryStore();
    const [sent] = await Promise.allSettled([
      runSender({ socket: s, source: memorySource({ x: Buffer.alloc(1000) }) }, senderOptions()),
      runReceiver({ socket: r, store }, receiverOptions({ limits: { maxOfferFiles: 10, maxOfferBytes: 0, maxFileSize: 999 } })),
    ]);
    assert.equal((sent as PromiseRejectedResult).reason.code, 'OFFER_TOO_LARGE');
  });

  it('the store refusing a name is reported to the sender as NAME_INVALID', async () => {
    const [s, r] = duplexPair();
    const store = new MemoryStore();
    store.refuse = new P2pdError('NAME_INVALID', 'bad name');
    const [sent] = await Promise.allSettled([
      runSender({ socket: s, source: memorySource({ x: Buffer.alloc(10) }) }, senderOptions()),
      runReceiver({ socket: r, store }, receiverOptions()),
    ]);
    assert.equal((sent as PromiseRejectedResult).reason.code, 'NAME_INVALID');
  });

  it('cancelling the sender cancels the receiver; nothing half-done is committed', async () => {
    const [s, r] = duplexPair();
    const store = new MemoryStore();
    const controller = new AbortController();
    const source: FileSource = {
      entries: [{ path: 'endless', kind: 'file', size: 1e12, mode: 0o644, mtimeMs: 0 }],
      async *read() {
        for (;;) {
          yield Buffer.alloc(65536);
          await new Promise((res) => setImmediate(res));
        }
      },
    };
    setTimeout(() => controller.abort(new P2pdError('TRANSFER_CANCELLED', 'stop')), 100);
    const [sent, received] = await Promise.allSettled([
      runSender({ socket: s, source }, senderOptions(controller.signal)),
      runReceiver({ socket: r, store }, receiverOptions()),
    ]);
    assert.equal((sent as PromiseRejectedResult).reason.code, 'TRANSFER_CANCELLED');
    assert.equal((received as PromiseRejectedResult).reason.code, 'TRANSFER_CANCELLED');
    assert.equal(store.files.size, 0);
    assert.deepEqual(store.discarded, ['endless']);
  });
});

describe('receiver against a hand-built hostile sender', () => {
  async function hostile(frames: Buffer[], over: Partial<ReceiverOptions> = {}) {
    const [s, r] = duplexPair();
    const store = new MemoryStore();
    const replies: string[] = [];
    const reading = (async () => {
      try {
        for await (const e of readEvents(s)) replies.push(e.type === 'error' || e.type === 'file-result' ? `${e.type}:${'code' in e ? e.code : ''}` : e.type);
      } catch {
        // the receiver may close abruptly
      }
    })();
    const result = runReceiver({ socket: r, store }, receiverOptions(over)).then(
      (v) => ({ ok: true as const, v }),
      (e: P2pdError) => ({ ok: false as const, code: e.code }),
    );
    for (const f of frames) s.write(f);
    // In-memory pipes hold no handle open and the heartbeat timer is unref'd: keep the loop alive.
    const keepAlive = setInterval(() => undefined, 1000);
    const out = await result;
    clearInterval(keepAlive);
    s.end();
    await reading;
    return { out, store, replies };
  }
  const hello = encodeMessage({ type: 'hello', name: 'mallory', software: 'x', features: [] });
  const offer = (size: number) => encodeOffer('t1', 1, size, [{ path: 'f', kind: 'file', size, mode: 0o644, mtimeMs: 0 }]);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('a wrong hash: the file is discarded and reported, never committed', async () => {
    const data = Buffer.from('real data');
    const { out, store, replies } = await hostile([
      encodePreface(),
      hello,
      ...offer(data.length),
      encodeMessage({ type: 'file-begin', index: 0, offset: 0 }),
      encodeDataHeader(data.length),
      data,
      encodeMessage({ type: 'file-end', index: 0, sha256: sha(Buffer.from('other')) }),
      encodeMessage({ type: 'done' }),
    ]);
    assert.equal(out.ok, true);
    assert.equal(store.files.size, 0);
    assert.ok(replies.includes('file-result:HASH_MISMATCH'), replies.join());
  });

  it('more bytes than declared end the transfer with SIZE_MISMATCH', async () => {
    const data = Buffer.alloc(100);
    const { out, store, replies } = await hostile([
      encodePreface(),
      hello,
      ...offer(10),
      encodeMessage({ type: 'file-begin', index: 0, offset: 0 }),
      encodeDataHeader(data.length),
      data,
    ]);
    assert.deepEqual(out, { ok: false, code: 'SIZE_MISMATCH' });
    assert.equal(store.files.size, 0);
    assert.ok(replies.includes('error:SIZE_MISMATCH'), replies.join());
  });

  it('fewer bytes than declared: SIZE_MISMATCH for that file', async () => {
    const data = Buffer.alloc(5);
    const { store, replies } = await hostile([
      encodePreface(),
      hello,
      ...offer(10),
      encodeMessage({ type: 'file-begin', index: 0, offset: 0 }),
      encodeDataHeader(data.length),
      data,
      encodeMessage({ type: 'file-end', index: 0, sha256: sha(data) }),
      encodeMessage({ type: 'done' }),
    ]);
    assert.equal(store.files.size, 0);
    assert.ok(replies.includes('file-result:SIZE_MISMATCH'), replies.join());
  });

  it('a 4 GiB frame length is refused without allocating it', async () => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(0xffffffff, 0);
    header[4] = 0x02;
    const { out, replies } = await hostile([encodePreface(), hello, header]);
    assert.deepEqual(out, { ok: false, code: 'PROTOCOL_FRAME_TOO_LARGE' });
    assert.ok(replies.includes('error:PROTOCOL_FRAME_TOO_LARGE'));
  });

  it('garbage instead of a preface', async () => {
    const { out } = await hostile([Buffer.from('GET / HTTP/1.1\r\n\r\n')]);
    assert.deepEqual(out, { ok: false, code: 'PROTOCOL_BAD_MAGIC' });
  });

  it('data before any file, and a FILE_BEGIN out of order', async () => {
    const a = await hostile([encodePreface(), hello, ...offer(1), encodeDataHeader(1), Buffer.from('x')]);
    assert.deepEqual(a.out, { ok: false, code: 'PROTOCOL_UNEXPECTED' });
    const b = await hostile([encodePreface(), hello, ...offer(1), encodeMessage({ type: 'file-begin', index: 5, offset: 0 })]);
    assert.deepEqual(b.out, { ok: false, code: 'PROTOCOL_UNEXPECTED' });
  });

  it('totals that do not add up', async () => {
    const bad = encodeOffer('t1', 1, 999, [{ path: 'f', kind: 'file', size: 1, mode: 0o644, mtimeMs: 0 }]);
    const { out } = await hostile([encodePreface(), hello, ...bad]);
    assert.deepEqual(out, { ok: false, code: 'OFFER_INVALID' });
  });

  it('a handshake that never finishes times out', async () => {
    const { out } = await hostile([encodePreface()], { handshakeTimeoutMs: 200 });
    assert.deepEqual(out, { ok: false, code: 'TIMEOUT' });
  });

  it('a sender that goes silent mid-transfer is dropped by the idle timeout', async () => {
    const { out } = await hostile([encodePreface(), hello, ...offer(10), encodeMessage({ type: 'file-begin', index: 0, offset: 0 })], { idleTimeoutMs: 600 });
    assert.deepEqual(out, { ok: false, code: 'TIMEOUT' });
  });
});
