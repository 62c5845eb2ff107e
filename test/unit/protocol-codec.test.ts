/**
 * Protocol v1 codec: table-driven round trips, framing across chunk boundaries and every error the
 * decoder and encoder can raise. Errors are checked by code and details, never by message text.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { P2pdError, type ErrorCode } from '../../src/errors.js';
import {
  FrameDecoder,
  FrameType,
  DATA_CHUNK,
  LIMITS,
  MAX_CONTROL_PAYLOAD,
  MAX_DATA_PAYLOAD,
  PROTOCOL_VERSION,
  encodeDataHeader,
  encodeMessage,
  encodeOffer,
  encodePreface,
  type ControlMessage,
  type DecodedEvent,
  type OfferEntry,
} from '../../src/protocol/index.js';

const PREFACE = encodePreface();
const SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Decodes `bytes` pushed in pieces of `step` bytes, then ends the input. */
function decode(bytes: Buffer, step = bytes.length, options?: ConstructorParameters<typeof FrameDecoder>[0]): DecodedEvent[] {
  const decoder = new FrameDecoder(options);
  const events: DecodedEvent[] = [];
  for (let i = 0; i < bytes.length; i += Math.max(step, 1)) events.push(...decoder.push(bytes.subarray(i, i + step)));
  decoder.end();
  return events;
}

/** Joins consecutive data events into one, since DATA carries no frame boundaries. */
function mergeData(events: DecodedEvent[]): DecodedEvent[] {
  const out: DecodedEvent[] = [];
  for (const e of events) {
    const last = out.at(-1);
    if (e.type === 'data' && last?.type === 'data') last.chunk = Buffer.concat([last.chunk, e.chunk]);
    else out.push(e.type === 'data' ? { type: 'data', chunk: Buffer.from(e.chunk) } : e);
  }
  return out;
}

function frame(frameType: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length + 1, 0);
  header[4] = frameType;
  return Buffer.concat([header, body]);
}

function dataFrame(payload: Buffer): Buffer {
  return Buffer.concat([encodeDataHeader(payload.length), payload]);
}

/** Asserts that `fn` throws a P2pdError with `code` and returns it for further checks. */
function throwsCode(fn: () => unknown, code: ErrorCode): P2pdError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof P2pdError, `expected a P2pdError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

const entry = (path: string, size: number, kind: 'file' | 'dir' = 'file'): OfferEntry => ({
  path,
  kind,
  size: kind === 'dir' ? 0 : size,
  mode: kind === 'dir' ? 0o755 : 0o644,
  mtimeMs: 1_700_000_000_123.5,
});

const MESSAGES: Array<[string, ControlMessage]> = [
  ['hello', { type: 'hello', name: 'alice', software: 'p2pd/0.1.0', features: ['resume', 'pairing'] }],
  ['hello, empty strings and features', { type: 'hello', name: '', software: '', features: [] }],
  ['hello, non-ASCII name', { type: 'hello', name: 'Zoë 🦊 \u0000\ud800', software: 'x', features: [''] }],
  [
    'offer',
    {
      type: 'offer',
      transferId: 'T_1-abc',
      totalFiles: 2,
      totalBytes: 12,
      entries: [entry('photos', 0, 'dir'), entry('photos/a.jpg', 12)],
      more: false,
    },
  ],
  ['offer, no entries, more', { type: 'offer', transferId: 'x', totalFiles: 0, totalBytes: 0, entries: [], more: true }],
  ['answer, accept', { type: 'answer', accept: true }],
  [
    'answer, all fields',
    {
      type: 'answer',
      accept: false,
      code: 'PEER_REFUSED',
      message: 'no thanks',
      files: [{ index: 0 }, { index: 1, offset: 4096 }, { index: 2, skip: 'NAME_INVALID' }],
    },
  ],
  ['file-begin', { type: 'file-begin', index: 3, offset: 0 }],
  ['file-begin, resumed', { type: 'file-begin', index: 0, offset: Number.MAX_SAFE_INTEGER }],
  ['file-end', { type: 'file-end', index: 3, sha256: SHA }],
  ['file-result, ok', { type: 'file-result', index: 3, ok: true }],
  ['file-result, failed', { type: 'file-result', index: 4, ok: false, code: 'HASH_MISMATCH', message: 'bad hash' }],
  ['done', { type: 'done' }],
  ['summary', { type: 'summary', ok: true, files: 2, bytes: 12 }],
  ['error', { type: 'error', code: 'TRANSFER_CANCELLED', message: 'cancelled by the user' }],
  ['ping', { type: 'ping' }],
  ['pong', { type: 'pong' }],
];

describe('preface', () => {
  it('is "P2PD", version 1 and three zero bytes', () => {
    assert.equal(PREFACE.toString('hex'), '5032504401000000');
    assert.deepEqual(decode(PREFACE), [{ type: 'preface', version: 1 }]);
  });

  it('ignores the reserved bytes', () => {
    assert.deepEqual(decode(Buffer.from('5032504401ffeedd', 'hex')), [{ type: 'preface', version: 1 }]);
  });

  it('rejects a wrong magic at the first wrong byte', () => {
    throwsCode(() => decode(Buffer.from('P2PX\x01\0\0\0', 'latin1')), 'PROTOCOL_BAD_MAGIC');
    const decoder = new FrameDecoder();
    throwsCode(() => decoder.push(Buffer.from('G')), 'PROTOCOL_BAD_MAGIC');
  });

  it('rejects another version and reports it', () => {
    const err = throwsCode(() => decode(encodePreface(2)), 'PROTOCOL_VERSION');
    assert.equal(err.details?.version, 2);
    const zero = throwsCode(() => new FrameDecoder().push(Buffer.from('P2PD\x00', 'latin1')), 'PROTOCOL_VERSION');
    assert.equal(zero.details?.version, 0);
  });
});

describe('round trips', () => {
  for (const [name, msg] of MESSAGES) {
    it(name, () => {
      const bytes = encodeMessage(msg);
      assert.equal(bytes.readUInt32BE(0), bytes.length - 4);
      const json = JSON.parse(bytes.subarray(5).toString('utf8')) as Record<string, unknown>;
      assert.equal(Object.hasOwn(json, 'type'), false, 'the payload never carries "type"');
      assert.deepEqual(decode(Buffer.concat([PREFACE, bytes])), [{ type: 'preface', version: 1 }, msg]);
    });
  }

  it('gives the same events when fed one byte at a time', () => {
    const data = Buffer.from('hello, world: some file bytes');
    const stream = Buffer.concat([
      PREFACE,
      ...MESSAGES.map(([, m]) => encodeMessage(m)),
      encodeMessage({ type: 'file-begin', index: 0, offset: 0 }),
      dataFrame(data),
      dataFrame(Buffer.alloc(0)),
      dataFrame(data),
      encodeMessage({ type: 'file-end', index: 0, sha256: SHA }),
    ]);
    const whole = mergeData(decode(stream));
    assert.equal(whole.length, 1 + MESSAGES.length + 3);
    for (const step of [1, 2, 3, 5, 7, 64]) assert.deepEqual(mergeData(decode(stream, step)), whole, `step ${step}`);
  });

  it('splits a stream at every byte boundary', () => {
    const stream = Buffer.concat([PREFACE, encodeMessage(MESSAGES[0]![1]), dataFrame(Buffer.from('abc')), encodeMessage({ type: 'done' })]);
    const whole = mergeData(decode(stream));
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder();
      const events = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
      decoder.end();
      assert.deepEqual(mergeData(events), whole, `cut at ${cut}`);
    }
  });

  it('ignores unknown fields', () => {
    const payload = JSON.stringify({ index: 1, offset: 2, future: { nested: true }, type: 'bogus' });
    assert.deepEqual(decode(Buffer.concat([PREFACE, frame(FrameType.FILE_BEGIN, payload)])).at(-1), {
      type: 'file-begin',
      index: 1,
      offset: 2,
    });
  });

  it('reads error codes it does not know as a generic failure', () => {
    const events = decode(
      Buffer.concat([
        PREFACE,
        frame(FrameType.ERROR, '{"code":"SOME_FUTURE_CODE","message":"m"}'),
        frame(FrameType.FILE_RESULT, '{"index":0,"ok":false,"code":"NEWER"}'),
        frame(FrameType.ANSWER, '{"accept":false,"code":"NEWER","files":[{"index":0,"skip":"NEWER"}]}'),
      ]),
    );
    assert.deepEqual(events.slice(1), [
      { type: 'error', code: 'TRANSFER_FAILED', message: 'm' },
      { type: 'file-result', index: 0, ok: false, code: 'TRANSFER_FAILED' },
      { type: 'answer', accept: false, code: 'PEER_REFUSED', files: [{ index: 0, skip: 'PEER_REFUSED' }] },
    ]);
  });
});

describe('DATA frames', () => {
  it('streams the payload as slices of the input, without copying', () => {
    const payload = Buffer.alloc(100_000, 7);
    payload.write('start', 0);
    payload.write('end', 99_997);
    const stream = Buffer.concat([PREFACE, dataFrame(payload)]);
    const decoder = new FrameDecoder();
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 16_384) {
      for (const e of decoder.push(stream.subarray(i, i + 16_384))) {
        if (e.type !== 'data') continue;
        assert.equal(e.chunk.buffer, stream.buffer, 'a data chunk is a view of the pushed bytes');
        chunks.push(e.chunk);
      }
      assert.equal(decoder.bytesBuffered, 0, 'DATA bytes are never buffered');
    }
    decoder.end();
    assert.ok(chunks.length >= 6);
    assert.ok(Buffer.concat(chunks).equals(payload));
  });

  it('emits a data event as soon as the first payload byte arrives', () => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.concat([PREFACE, encodeDataHeader(1000)]));
    assert.deepEqual(decoder.push(Buffer.from('x')), [{ type: 'data', chunk: Buffer.from('x') }]);
  });

  it('gives no event for an empty DATA frame', () => {
    assert.deepEqual(decode(Buffer.concat([PREFACE, dataFrame(Buffer.alloc(0))])), [{ type: 'preface', version: 1 }]);
  });

  it('encodes a header for up to MAX_DATA_PAYLOAD bytes', () => {
    assert.equal(encodeDataHeader(16).toString('hex'), '0000001105');
    assert.equal(encodeDataHeader(MAX_DATA_PAYLOAD).readUInt32BE(0), MAX_DATA_PAYLOAD + 1);
    throwsCode(() => encodeDataHeader(MAX_DATA_PAYLOAD + 1), 'PROTOCOL_FRAME_TOO_LARGE');
    throwsCode(() => encodeDataHeader(-1), 'INTERNAL');
    throwsCode(() => encodeDataHeader(1.5), 'INTERNAL');
  });
});

describe('frame errors', () => {
  it('rejects a 4 GiB frame from its header, before allocating', () => {
    for (const type of [FrameType.DATA, FrameType.OFFER]) {
      const decoder = new FrameDecoder();
      decoder.push(PREFACE);
      const header = Buffer.from([0xff, 0xff, 0xff, 0xff, type]);
      decoder.push(header.subarray(0, 3));
      assert.ok(decoder.bytesBuffered <= 5);
      const err = throwsCode(() => decoder.push(header.subarray(3)), 'PROTOCOL_FRAME_TOO_LARGE');
      assert.equal(err.details?.length, 0xffff_fffe);
      assert.ok(decoder.bytesBuffered <= 5);
    }
  });

  it('accepts frames of exactly the limit and rejects one byte more', () => {
    const options = { maxControlPayload: 20, maxDataPayload: 10 };
    const ping20 = frame(FrameType.PING, `{"pad":"${'x'.repeat(10)}"}`);
    assert.equal(ping20.length, 25);
    assert.deepEqual(decode(Buffer.concat([PREFACE, ping20]), 1, options).at(-1), { type: 'ping' });
    throwsCode(() => decode(Buffer.concat([PREFACE, frame(FrameType.PING, `{"pad":"${'x'.repeat(11)}"}`)]), 1, options), 'PROTOCOL_FRAME_TOO_LARGE');
    assert.equal(mergeData(decode(Buffer.concat([PREFACE, dataFrame(Buffer.alloc(10))]), 3, options)).length, 2);
    throwsCode(() => decode(Buffer.concat([PREFACE, dataFrame(Buffer.alloc(11))]), 3, options), 'PROTOCOL_FRAME_TOO_LARGE');
  });

  it('checks the control limit by default', () => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(MAX_CONTROL_PAYLOAD + 2, 0);
    header[4] = FrameType.HELLO;
    throwsCode(() => decode(Buffer.concat([PREFACE, header])), 'PROTOCOL_FRAME_TOO_LARGE');
  });

  it('rejects length 0', () => {
    throwsCode(() => decode(Buffer.concat([PREFACE, Buffer.from([0, 0, 0, 0, FrameType.PING])])), 'PROTOCOL_BAD_MESSAGE');
  });

  it('rejects unknown and reserved frame types', () => {
    for (const type of [0x00, 0x0d, 0x1f, 0x24, 0x2f, 0x30, 0xff]) {
      const err = throwsCode(() => decode(Buffer.concat([PREFACE, frame(type, '{}')])), 'PROTOCOL_BAD_MESSAGE');
      assert.equal(err.details?.frameType, type);
    }
  });

  const badPayloads: Array<[string, Buffer | string]> = [
    ['empty payload', ''],
    ['bad JSON', '{"index":'],
    ['trailing garbage', '{}x'],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d])],
    ['a byte-order mark', '\ufeff{}'],
    ['an array', '[]'],
    ['null', 'null'],
    ['a string', '"ping"'],
    ['a number', '1'],
  ];
  for (const [name, payload] of badPayloads) {
    it(`rejects ${name} as a control payload`, () => {
      throwsCode(() => decode(Buffer.concat([PREFACE, frame(FrameType.PING, payload)])), 'PROTOCOL_BAD_MESSAGE');
    });
  }
});

describe('field checks', () => {
  const good: Record<string, [number, Record<string, unknown>]> = {
    HELLO: [FrameType.HELLO, { name: 'a', software: 'b', features: [] }],
    OFFER: [
      FrameType.OFFER,
      { transferId: 't', totalFiles: 1, totalBytes: 1, entries: [{ path: 'a', kind: 'file', size: 1, mode: 0o644, mtimeMs: 0 }], more: false },
    ],
    ANSWER: [FrameType.ANSWER, { accept: true, files: [{ index: 0, offset: 1, skip: 'PEER_REFUSED' }] }],
    FILE_BEGIN: [FrameType.FILE_BEGIN, { index: 0, offset: 0 }],
    FILE_END: [FrameType.FILE_END, { index: 0, sha256: SHA }],
    FILE_RESULT: [FrameType.FILE_RESULT, { index: 0, ok: true, code: 'HASH_MISMATCH', message: 'm' }],
    SUMMARY: [FrameType.SUMMARY, { ok: true, files: 0, bytes: 0 }],
    ERROR: [FrameType.ERROR, { code: 'INTERNAL', message: '' }],
  };
  // [frame, field path, value]; `undefined` removes the field.
  const cases: Array<[string, string, unknown]> = [
    ['HELLO', 'name', 1],
    ['HELLO', 'name', undefined],
    ['HELLO', 'name', 'n'.repeat(257)],
    ['HELLO', 'software', null],
    ['HELLO', 'features', 'resume'],
    ['HELLO', 'features', Array.from({ length: 33 }, () => 'f')],
    ['HELLO', 'features[0]', 7],
    ['HELLO', 'features[0]', 'f'.repeat(65)],
    ['OFFER', 'transferId', ''],
    ['OFFER', 'transferId', 'a/b'],
    ['OFFER', 'transferId', 't'.repeat(65)],
    ['OFFER', 'transferId', 5],
    ['OFFER', 'totalFiles', -1],
    ['OFFER', 'totalFiles', 1.5],
    ['OFFER', 'totalBytes', 2 ** 53],
    ['OFFER', 'totalBytes', '1'],
    ['OFFER', 'entries', {}],
    ['OFFER', 'entries', undefined],
    ['OFFER', 'more', 'false'],
    ['OFFER', 'entries[0]', 'a'],
    ['OFFER', 'entries[0].path', ''],
    ['OFFER', 'entries[0].path', 'p'.repeat(4097)],
    ['OFFER', 'entries[0].path', ['a']],
    ['OFFER', 'entries[0].kind', 'symlink'],
    ['OFFER', 'entries[0].kind', undefined],
    ['OFFER', 'entries[0].size', -5],
    ['OFFER', 'entries[0].mode', 0o10000],
    ['OFFER', 'entries[0].mode', -1],
    ['OFFER', 'entries[0].mtimeMs', -1],
    ['OFFER', 'entries[0].mtimeMs', '0'],
    ['ANSWER', 'accept', 1],
    ['ANSWER', 'code', ''],
    ['ANSWER', 'code', 'C'.repeat(65)],
    ['ANSWER', 'message', 'm'.repeat(1025)],
    ['ANSWER', 'files', {}],
    ['ANSWER', 'files[0]', null],
    ['ANSWER', 'files[0].index', undefined],
    ['ANSWER', 'files[0].offset', -1],
    ['ANSWER', 'files[0].skip', 3],
    ['FILE_BEGIN', 'index', -1],
    ['FILE_BEGIN', 'offset', undefined],
    ['FILE_END', 'sha256', SHA.toUpperCase()],
    ['FILE_END', 'sha256', SHA.slice(1)],
    ['FILE_END', 'index', '0'],
    ['FILE_RESULT', 'ok', undefined],
    ['FILE_RESULT', 'code', false],
    ['FILE_RESULT', 'message', 5],
    ['SUMMARY', 'files', -1],
    ['SUMMARY', 'bytes', 1e300],
    ['SUMMARY', 'ok', 'yes'],
    ['ERROR', 'code', undefined],
    ['ERROR', 'message', undefined],
    ['ERROR', 'message', 'm'.repeat(1025)],
  ];

  /** Sets (or removes) the value at a path like "entries[0].size" in a deep copy of `base`. */
  function withField(base: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
    const copy = structuredClone(base);
    const keys = path.split(/[.[\]]+/).filter(Boolean);
    let target = copy as Record<string, unknown>;
    for (const k of keys.slice(0, -1)) target = target[k] as Record<string, unknown>;
    const last = keys.at(-1)!;
    if (value === undefined) delete target[last];
    else target[last] = value;
    return copy;
  }

  for (const [name, [type, base]] of Object.entries(good)) {
    it(`accepts a good ${name}`, () => {
      assert.equal(decode(Buffer.concat([PREFACE, frame(type, JSON.stringify(base))])).length, 2);
    });
  }

  for (const [name, path, value] of cases) {
    it(`rejects ${name}.${path} = ${JSON.stringify(value)?.slice(0, 20) ?? 'missing'}`, () => {
      const [type, base] = good[name]!;
      const payload = JSON.stringify(withField(base, path, value));
      const err = throwsCode(() => decode(Buffer.concat([PREFACE, frame(type, payload)])), 'PROTOCOL_BAD_MESSAGE');
      assert.equal(err.details?.field, `${name}.${path}`);
    });
  }

  it('rejects a directory with a size', () => {
    const payload = JSON.stringify(withField(good.OFFER![1], 'entries[0]', { path: 'd', kind: 'dir', size: 1, mode: 0o755, mtimeMs: 0 }));
    const err = throwsCode(() => decode(Buffer.concat([PREFACE, frame(FrameType.OFFER, payload)])), 'PROTOCOL_BAD_MESSAGE');
    assert.equal(err.details?.field, 'OFFER.entries[0].size');
  });

  it("does not judge names (the receiver's store does)", () => {
    const payload = JSON.stringify(withField(good.OFFER![1], 'entries[0].path', '../../etc/passwd\u0000'));
    const offer = decode(Buffer.concat([PREFACE, frame(FrameType.OFFER, payload)]))[1];
    assert.equal(offer?.type === 'offer' && offer.entries[0]?.path, '../../etc/passwd\u0000');
  });
});

describe('end of input', () => {
  const stream = Buffer.concat([PREFACE, encodeMessage({ type: 'ping' }), encodeDataHeader(4), Buffer.from('abcd')]);
  const boundaries = new Set([PREFACE.length, PREFACE.length + encodeMessage({ type: 'ping' }).length, stream.length]);

  it('is fine between frames and throws PROTOCOL_TRUNCATED anywhere else', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder();
      decoder.push(stream.subarray(0, cut));
      if (boundaries.has(cut)) decoder.end();
      else throwsCode(() => decoder.end(), 'PROTOCOL_TRUNCATED');
    }
  });

  it('throws PROTOCOL_TRUNCATED for an input without a preface', () => {
    throwsCode(() => new FrameDecoder().end(), 'PROTOCOL_TRUNCATED');
  });

  it('refuses input after end()', () => {
    const decoder = new FrameDecoder();
    decoder.push(PREFACE);
    decoder.end();
    decoder.end();
    throwsCode(() => decoder.push(encodeMessage({ type: 'ping' })), 'INTERNAL');
  });
});

describe('a poisoned decoder', () => {
  it('keeps throwing the first error', () => {
    const decoder = new FrameDecoder();
    decoder.push(PREFACE);
    const first = throwsCode(() => decoder.push(frame(0x42, '{}')), 'PROTOCOL_BAD_MESSAGE');
    assert.equal(
      throwsCode(() => decoder.push(encodeMessage({ type: 'ping' })), 'PROTOCOL_BAD_MESSAGE'),
      first,
    );
    assert.equal(
      throwsCode(() => decoder.push(Buffer.alloc(0)), 'PROTOCOL_BAD_MESSAGE'),
      first,
    );
    assert.equal(
      throwsCode(() => decoder.end(), 'PROTOCOL_BAD_MESSAGE'),
      first,
    );
  });

  it('stays poisoned after PROTOCOL_TRUNCATED', () => {
    const decoder = new FrameDecoder();
    decoder.push(PREFACE.subarray(0, 3));
    throwsCode(() => decoder.end(), 'PROTOCOL_TRUNCATED');
    throwsCode(() => decoder.push(PREFACE.subarray(3)), 'PROTOCOL_TRUNCATED');
  });
});

describe('encoder', () => {
  it('serialises only the known fields', () => {
    const msg = { type: 'file-begin', index: 1, offset: 0, secret: 'x' } as ControlMessage;
    assert.equal(encodeMessage(msg).subarray(5).toString(), '{"index":1,"offset":0}');
  });

  it('refuses what a peer would reject', () => {
    throwsCode(() => encodeMessage({ type: 'file-begin', index: -1, offset: 0 }), 'PROTOCOL_BAD_MESSAGE');
    throwsCode(() => encodeMessage({ type: 'offer', transferId: 'a b', totalFiles: 0, totalBytes: 0, entries: [], more: false }), 'PROTOCOL_BAD_MESSAGE');
    throwsCode(() => encodeMessage({ type: 'data', chunk: Buffer.alloc(1) } as unknown as ControlMessage), 'INTERNAL');
  });

  it('throws PROTOCOL_FRAME_TOO_LARGE for JSON over MAX_CONTROL_PAYLOAD', () => {
    const entries = Array.from({ length: 300 }, (_, i) => entry(`${i}/${'n'.repeat(4000)}`, 1));
    const err = throwsCode(
      () => encodeMessage({ type: 'offer', transferId: 't', totalFiles: 300, totalBytes: 300, entries, more: false }),
      'PROTOCOL_FRAME_TOO_LARGE',
    );
    assert.ok((err.details?.length as number) > MAX_CONTROL_PAYLOAD);
  });

  it('encodes the documented HELLO example', () => {
    const hello = encodeMessage({ type: 'hello', name: 'alice', software: 'p2pd/0.1.0', features: ['resume'] });
    assert.equal(hello.toString('hex'), '0000003f01' + Buffer.from('{"name":"alice","software":"p2pd/0.1.0","features":["resume"]}').toString('hex'));
  });
});

describe('encodeOffer', () => {
  const entries = Array.from({ length: 40 }, (_, i) => entry(`dir/file-${i}-${'é'.repeat(i % 7)}.txt`, i * 10));
  const totalBytes = entries.reduce((n, e) => n + e.size, 0);

  function decodeOffers(frames: Buffer[], maxControlPayload?: number) {
    const events = decode(Buffer.concat([PREFACE, ...frames]), 13, maxControlPayload === undefined ? undefined : { maxControlPayload });
    return events.slice(1).map((e) => {
      assert.equal(e.type, 'offer');
      return e as Extract<DecodedEvent, { type: 'offer' }>;
    });
  }

  it('packs entries into frames of at most maxPayload bytes, in order', () => {
    const max = 600;
    const frames = encodeOffer('t1', 40, totalBytes, entries, max);
    assert.ok(frames.length > 4);
    for (const f of frames) assert.ok(f.length - 5 <= max, `frame of ${f.length - 5} bytes`);
    const offers = decodeOffers(frames, max);
    assert.deepEqual(
      offers.map((o) => o.more),
      [...Array<boolean>(frames.length - 1).fill(true), false],
    );
    for (const o of offers) assert.deepEqual([o.transferId, o.totalFiles, o.totalBytes], ['t1', 40, totalBytes]);
    assert.deepEqual(
      offers.flatMap((o) => o.entries),
      entries,
    );
    // Greedy: no frame could have taken the next frame's first entry.
    for (let i = 0; i + 1 < frames.length; i++) {
      const grown = encodeMessage({ ...offers[i]!, entries: [...offers[i]!.entries, offers[i + 1]!.entries[0]!] });
      assert.ok(grown.length - 5 > max - 1);
    }
  });

  it('gives one frame, identical to encodeMessage, when everything fits', () => {
    const frames = encodeOffer('t1', 40, totalBytes, entries);
    assert.equal(frames.length, 1);
    assert.ok(frames[0]!.equals(encodeMessage({ type: 'offer', transferId: 't1', totalFiles: 40, totalBytes, entries, more: false })));
  });

  it('gives one frame for no entries', () => {
    const frames = encodeOffer('empty', 0, 0, []);
    assert.equal(frames.length, 1);
    assert.deepEqual(decodeOffers(frames), [{ type: 'offer', transferId: 'empty', totalFiles: 0, totalBytes: 0, entries: [], more: false }]);
  });

  it('throws when one entry cannot fit in a frame', () => {
    throwsCode(() => encodeOffer('t', 1, 1, [entry('x'.repeat(200), 1)], 150), 'PROTOCOL_FRAME_TOO_LARGE');
    throwsCode(() => encodeOffer('t', 0, 0, [], 10), 'PROTOCOL_FRAME_TOO_LARGE');
  });

  it('checks every field', () => {
    throwsCode(() => encodeOffer('t', 1, 1, [{ ...entry('a', 1), mode: 0o100644 }]), 'PROTOCOL_BAD_MESSAGE');
    throwsCode(() => encodeOffer('', 1, 1, []), 'PROTOCOL_BAD_MESSAGE');
    throwsCode(() => encodeOffer('t', -1, 1, []), 'PROTOCOL_BAD_MESSAGE');
    throwsCode(() => encodeOffer('t', 0, 0, [], MAX_CONTROL_PAYLOAD + 1), 'INTERNAL');
  });
});

describe('docs/PROTOCOL.md', () => {
  const doc = readFileSync(new URL('../../../docs/PROTOCOL.md', import.meta.url), 'utf8');

  it('names the protocol version this code speaks', () => {
    assert.match(doc, new RegExp(`^\\*\\*Protocol version ${PROTOCOL_VERSION}\\.\\*\\*`, 'm'));
  });

  it('lists every frame type with its byte', () => {
    const rows = new Map([...doc.matchAll(/^\| `0x([0-9a-f]{2})` \| ([A-Z_]+) \|/gm)].map((m) => [m[2]!, Number.parseInt(m[1]!, 16)]));
    assert.deepEqual(rows, new Map(Object.entries(FrameType)));
  });

  it('states the limits the code enforces', () => {
    const limit = (name: string): number => Number(new RegExp(`\\| \`${name}\` \\| ([0-9,]+) bytes`).exec(doc)?.[1]?.replaceAll(',', ''));
    assert.equal(limit('MAX_CONTROL_PAYLOAD'), MAX_CONTROL_PAYLOAD);
    assert.equal(limit('MAX_DATA_PAYLOAD'), MAX_DATA_PAYLOAD);
    assert.equal(limit('DATA_CHUNK'), DATA_CHUNK);
    assert.ok(doc.includes(`| HELLO \`name\`, \`software\` | ${LIMITS.helloText} units |`));
    assert.ok(doc.includes(`| OfferEntry \`path\` | 1–${LIMITS.offerPath} units |`));
    assert.ok(doc.includes(`| \`message\` (ANSWER, FILE_RESULT, ERROR) | ${LIMITS.message} units |`));
  });

  it('shows the bytes the encoder produces in the worked example', () => {
    const dump = /## Worked example[\s\S]*?```\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const hex = [...dump.matchAll(/^[0-9a-f]{4} {2}((?:[0-9a-f]{2} )*[0-9a-f]{2})/gm)].map((m) => m[1]!.replaceAll(' ', '')).join('');
    const bytes = Buffer.concat([encodePreface(), encodeMessage({ type: 'hello', name: 'alice', software: 'p2pd/0.1.0', features: ['resume'] })]);
    assert.equal(hex, bytes.toString('hex'));
  });
});
