/**
 * Property tests of the protocol v1 codec: hostile bytes only ever raise P2pdError and never make
 * the decoder hold more than one control frame; valid messages survive any chunking.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_CODES, P2pdError, type ErrorCode } from '../../src/errors.js';
import {
  FrameDecoder,
  FrameType,
  LIMITS,
  encodeDataHeader,
  encodeMessage,
  encodePreface,
  type ControlMessage,
  type DecodedEvent,
  type OfferEntry,
} from '../../src/protocol/index.js';

const PREFACE = encodePreface();

/** Cuts `bytes` at the given points (any order, duplicates allowed). */
function cut(bytes: Buffer, points: number[]): Buffer[] {
  const sorted = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const p of sorted) {
    pieces.push(bytes.subarray(from, p));
    from = p;
  }
  pieces.push(bytes.subarray(from));
  return pieces;
}

// ---------- hostile input ----------

const MAX_CONTROL = 200;
const MAX_DATA = 300;

/** Frame headers with lengths near the limits and any type byte, so decoding gets past the header. */
const plausibleHeader = fc
  .tuple(fc.oneof(fc.integer({ min: 0, max: MAX_DATA + 3 }), fc.constant(0xffff_ffff), fc.nat()), fc.oneof(fc.integer({ min: 0, max: 0x30 }), fc.nat(0xff)))
  .map(([length, type]) => {
    const h = Buffer.alloc(5);
    h.writeUInt32BE(length >>> 0, 0);
    h[4] = type;
    return h;
  });

const jsonish = fc.oneof(
  fc.json().map((j) => Buffer.from(j)),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify({ index: v, offset: v, ok: v, code: v, message: v, entries: [v] }))),
);

/** Well-framed JSON of any shape under a known type byte, so the field checks see it. */
const framedJson = fc.tuple(fc.integer({ min: 0, max: 0x0d }), jsonish).map(([type, payload]) => {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(payload.length + 1, 0);
  h[4] = type;
  return Buffer.concat([h, payload]);
});

const hostilePiece = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  plausibleHeader,
  jsonish,
  framedJson,
  fc.constantFrom(encodeMessage({ type: 'ping' }), encodeMessage({ type: 'file-begin', index: 0, offset: 0 }), encodeDataHeader(10), Buffer.from('{}')),
);

describe('hostile input', () => {
  it('raises nothing but P2pdError and buffers at most one control frame', () => {
    fc.assert(
      fc.property(fc.array(hostilePiece, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 10 }), (pieces, points) => {
        const decoder = new FrameDecoder({ maxControlPayload: MAX_CONTROL, maxDataPayload: MAX_DATA });
        try {
          for (const chunk of cut(Buffer.concat([PREFACE, ...pieces]), points)) {
            decoder.push(chunk);
            assert.ok(decoder.bytesBuffered <= MAX_CONTROL + 5, `bytesBuffered ${decoder.bytesBuffered}`);
          }
          decoder.end();
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          assert.ok(err instanceof P2pdError, `threw ${String(err)}`);
          assert.notEqual(err.code, 'INTERNAL');
          // Poisoned: the same error again.
          assert.throws(
            () => decoder.push(PREFACE),
            (again) => again === err,
          );
        }
      }),
      { numRuns: 8000 },
    );
  });

  it('raises nothing but P2pdError on random bytes, preface included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, withMagic) => {
        const input = withMagic ? Buffer.concat([Buffer.from('P2PD'), bytes]) : Buffer.from(bytes);
        const decoder = new FrameDecoder({ maxControlPayload: MAX_CONTROL, maxDataPayload: MAX_DATA });
        try {
          decoder.push(input);
          decoder.end();
        } catch (err) {
          assert.ok(err instanceof P2pdError, `threw ${String(err)}`);
        }
        assert.ok(decoder.bytesBuffered <= MAX_CONTROL + 5);
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------- valid messages ----------

/** Strings of single UTF-16 code units, lone surrogates and controls included, or of graphemes. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const text = (maxLength: number, minLength = 0): fc.Arbitrary<string> =>
  fc
    .oneof(
      { weight: 4, arbitrary: fc.string({ unit: codeUnit, minLength, maxLength }) },
      { weight: 4, arbitrary: fc.string({ unit: 'grapheme', minLength, maxLength: Math.min(maxLength, 40) }) },
      // Now and then up to the limit itself (fast-check's default size keeps strings short).
      { weight: 1, arbitrary: fc.string({ unit: codeUnit, minLength, maxLength, size: 'max' }) },
    )
    .filter((s) => s.length >= minLength && s.length <= maxLength);

/** Plain objects: the decoder's messages have Object.prototype, and deepEqual compares prototypes. */
const PLAIN = { noNullPrototype: true } as const;
const uint = fc.oneof(fc.nat(100), fc.maxSafeNat());
const code = fc.constantFrom(...(Object.keys(ERROR_CODES) as ErrorCode[]));
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const transferId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

const offerEntry: fc.Arbitrary<OfferEntry> = fc.oneof(
  fc.record(
    {
      path: text(LIMITS.offerPath, 1),
      kind: fc.constant('file' as const),
      size: uint,
      mode: fc.integer({ min: 0, max: 0o7777 }),
      mtimeMs: fc.double({ min: 0, max: 1e15, noNaN: true }).map((t) => Math.abs(t)),
    },
    PLAIN,
  ),
  fc.record(
    {
      path: text(100, 1),
      kind: fc.constant('dir' as const),
      size: fc.constant(0),
      mode: fc.integer({ min: 0, max: 0o7777 }),
      mtimeMs: fc.nat(),
    },
    PLAIN,
  ),
);

const controlMessage: fc.Arbitrary<ControlMessage> = fc.oneof(
  fc.record(
    {
      type: fc.constant('hello' as const),
      name: text(LIMITS.helloText),
      software: text(LIMITS.helloText),
      features: fc.array(text(LIMITS.featureName), { maxLength: LIMITS.helloFeatures }),
    },
    PLAIN,
  ),
  fc.record(
    {
      type: fc.constant('offer' as const),
      transferId,
      totalFiles: uint,
      totalBytes: uint,
      entries: fc.array(offerEntry, { maxLength: 8 }),
      more: fc.boolean(),
    },
    PLAIN,
  ),
  fc.record(
    {
      type: fc.constant('answer' as const),
      accept: fc.boolean(),
      code,
      message: text(LIMITS.message),
      files: fc.array(fc.record({ index: uint, offset: uint, skip: code }, { requiredKeys: ['index'], noNullPrototype: true }), { maxLength: 8 }),
    },
    { requiredKeys: ['type', 'accept'], noNullPrototype: true },
  ),
  fc.record({ type: fc.constant('file-begin' as const), index: uint, offset: uint }, PLAIN),
  fc.record({ type: fc.constant('file-end' as const), index: uint, sha256: hex64 }, PLAIN),
  fc.record(
    { type: fc.constant('file-result' as const), index: uint, ok: fc.boolean(), code, message: text(LIMITS.message) },
    { requiredKeys: ['type', 'index', 'ok'], noNullPrototype: true },
  ),
  fc.constant({ type: 'done' as const }),
  fc.record({ type: fc.constant('summary' as const), ok: fc.boolean(), files: uint, bytes: uint }, PLAIN),
  fc.record({ type: fc.constant('error' as const), code, message: text(LIMITS.message) }, PLAIN),
  fc.constant({ type: 'ping' as const }),
  fc.constant({ type: 'pong' as const }),
);

const dataPayload = fc.uint8Array({ maxLength: 300 }).map((a) => ({ type: 'data' as const, chunk: Buffer.from(a) }));

function encodeEvent(e: ControlMessage | { type: 'data'; chunk: Buffer }): Buffer {
  return e.type === 'data' ? Buffer.concat([encodeDataHeader(e.chunk.length), e.chunk]) : encodeMessage(e);
}

/** What the decoder should report: empty DATA frames vanish and neighbouring DATA runs join. */
function expected(messages: Array<ControlMessage | { type: 'data'; chunk: Buffer }>): DecodedEvent[] {
  const out: DecodedEvent[] = [{ type: 'preface', version: 1 }];
  for (const m of messages) {
    const last = out.at(-1)!;
    if (m.type !== 'data') out.push(m);
    else if (m.chunk.length === 0) continue;
    else if (last.type === 'data') last.chunk = Buffer.concat([last.chunk, m.chunk]);
    else out.push({ type: 'data', chunk: m.chunk });
  }
  return out;
}

function joinData(events: DecodedEvent[]): DecodedEvent[] {
  return expected(events.slice(1) as Array<ControlMessage | { type: 'data'; chunk: Buffer }>);
}

describe('valid messages', () => {
  it('round-trip through encode, any chunking and decode', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ weight: 3, arbitrary: controlMessage }, { weight: 1, arbitrary: dataPayload }), { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, points) => {
          const stream = Buffer.concat([PREFACE, ...messages.map(encodeEvent)]);
          const decoder = new FrameDecoder();
          const events: DecodedEvent[] = [];
          for (const chunk of cut(stream, points)) events.push(...decoder.push(chunk));
          decoder.end();
          assert.deepEqual(joinData(events), expected(messages));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('raise nothing but P2pdError when some of their bytes are flipped', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(controlMessage, dataPayload), { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (messages, flips, points) => {
          const stream = Buffer.concat([PREFACE, ...messages.map(encodeEvent)]);
          for (const [at, mask] of flips) stream[PREFACE.length + (at % (stream.length - PREFACE.length))] ^= mask;
          const decoder = new FrameDecoder();
          try {
            for (const chunk of cut(stream, points)) decoder.push(chunk);
            decoder.end();
          } catch (err) {
            assert.ok(err instanceof P2pdError && err.code !== 'INTERNAL', `threw ${String(err)}`);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('always fit the frame type the encoder chose', () => {
    fc.assert(
      fc.property(controlMessage, (msg) => {
        const frame = encodeMessage(msg);
        assert.equal(frame.readUInt32BE(0), frame.length - 4);
        assert.notEqual(frame[4], FrameType.DATA);
      }),
      { numRuns: 300 },
    );
  });
});
