/**
 * Incremental decoder of protocol v1 (docs/PROTOCOL.md): bytes in, events out. It is the receive
 * hot path of every transfer, so DATA payloads are never buffered: each chunk of a DATA frame comes
 * out at once as a slice of the input. Control frames are held until whole, their length checked
 * against the limit before anything is allocated for them. Pure: no I/O.
 */
import { isUtf8 } from 'node:buffer';
import { P2pdError } from '../errors.js';
import {
  FRAME_HEADER_LENGTH,
  FrameType,
  MAGIC,
  MAX_CONTROL_PAYLOAD,
  MAX_DATA_PAYLOAD,
  PREFACE_LENGTH,
  PROTOCOL_VERSION,
  type ControlMessage,
  type DecodedEvent,
} from './messages.js';
import { frameName, isControlFrameType, readMessage } from './validate.js';

export interface FrameDecoderOptions {
  /** Largest control (JSON) payload accepted, in bytes; defaults to MAX_CONTROL_PAYLOAD. */
  maxControlPayload?: number;
  /** Largest DATA payload accepted, in bytes; defaults to MAX_DATA_PAYLOAD. */
  maxDataPayload?: number;
}

/** Frame lengths are u32 and count the type byte, so no payload can be longer than this. */
const LONGEST_PAYLOAD = 0xffff_fffe;

type State = 'preface' | 'header' | 'control' | 'data' | 'ended';

/**
 * Feed it the bytes of one connection with push(); call end() when the stream ends. The first event
 * is always {type: 'preface'}. DATA frames come out as one or more {type: 'data', chunk} events
 * whose chunks are slices of the pushed buffers (no copy: do not modify a buffer after pushing it);
 * frame boundaries between DATA frames are not reported, and empty DATA frames give no event.
 * Any error is a P2pdError; events decoded earlier in the same push() are dropped with it, and
 * the decoder is poisoned: every later call throws the same error.
 */
export class FrameDecoder {
  readonly #maxControl: number;
  readonly #maxData: number;
  #state: State = 'preface';
  #failure: P2pdError | undefined;
  /** Preface or frame header bytes that arrived split across chunks (8 ≥ 5, so one buffer serves both). */
  readonly #head = Buffer.alloc(PREFACE_LENGTH);
  #headHave = 0;
  /** The control frame being read: its type, payload length and the bytes so far. */
  #frameType = 0;
  #payloadLength = 0;
  #payload: Buffer | undefined;
  #payloadHave = 0;
  /** Bytes of the current DATA frame still to come. */
  #dataLeft = 0;

  constructor(options: FrameDecoderOptions = {}) {
    this.#maxControl = limit(options.maxControlPayload, MAX_CONTROL_PAYLOAD, 'maxControlPayload');
    this.#maxData = limit(options.maxDataPayload, MAX_DATA_PAYLOAD, 'maxDataPayload');
  }

  /** Bytes held while waiting for the rest of a preface, header or control frame (never DATA). */
  get bytesBuffered(): number {
    return this.#headHave + this.#payloadHave;
  }

  push(chunk: Buffer): DecodedEvent[] {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#state === 'ended') throw this.#fail(new P2pdError('INTERNAL', 'FrameDecoder.push() after end()'));
    const events: DecodedEvent[] = [];
    const end = chunk.length;
    let pos = 0;
    try {
      while (pos < end) {
        switch (this.#state) {
          case 'data': {
            const take = Math.min(this.#dataLeft, end - pos);
            events.push({ type: 'data', chunk: take === end ? chunk : chunk.subarray(pos, pos + take) });
            pos += take;
            this.#dataLeft -= take;
            if (this.#dataLeft === 0) this.#state = 'header';
            break;
          }
          case 'header':
            pos = this.#readHeader(chunk, pos, events);
            break;
          case 'control':
            pos = this.#readControl(chunk, pos, events);
            break;
          case 'preface':
            pos = this.#readPreface(chunk, pos, events);
            break;
        }
      }
    } catch (err) {
      throw this.#fail(err instanceof P2pdError ? err : new P2pdError('INTERNAL', 'FrameDecoder failed', { cause: err }));
    }
    return events;
  }

  /** Declares the input complete. Throws PROTOCOL_TRUNCATED unless it stopped between two frames. */
  end(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#state === 'ended') return;
    const inside = this.#state === 'header' ? (this.#headHave > 0 ? 'frame header' : undefined) : this.#state;
    if (inside !== undefined) {
      const got = this.#state === 'data' ? undefined : this.bytesBuffered;
      throw this.#fail(
        new P2pdError('PROTOCOL_TRUNCATED', `the input ended inside a ${inside}`, {
          details: got === undefined ? { inside, missing: this.#dataLeft } : { inside, received: got },
        }),
      );
    }
    this.#state = 'ended';
  }

  #fail(err: P2pdError): P2pdError {
    this.#failure = err;
    this.#payload = undefined;
    return err;
  }

  #readPreface(chunk: Buffer, pos: number, events: DecodedEvent[]): number {
    const take = Math.min(PREFACE_LENGTH - this.#headHave, chunk.length - pos);
    chunk.copy(this.#head, this.#headHave, pos, pos + take);
    this.#headHave += take;
    // Check the magic on what has arrived so far: a stranger fails at its first wrong byte.
    const magicSeen = Math.min(this.#headHave, MAGIC.length);
    if (this.#head.compare(MAGIC, 0, magicSeen, 0, magicSeen) !== 0) {
      throw new P2pdError('PROTOCOL_BAD_MAGIC', 'the peer does not speak the p2pd protocol (wrong preface)', {
        details: { received: this.#head.subarray(0, magicSeen).toString('hex') },
      });
    }
    if (this.#headHave > MAGIC.length) {
      const version = this.#head[MAGIC.length]!;
      if (version !== PROTOCOL_VERSION) {
        throw new P2pdError('PROTOCOL_VERSION', `the peer speaks protocol version ${version}; this daemon speaks ${PROTOCOL_VERSION}`, {
          details: { version, supported: [PROTOCOL_VERSION] },
        });
      }
    }
    if (this.#headHave === PREFACE_LENGTH) {
      // Bytes 5..7 are reserved; receivers ignore them.
      this.#headHave = 0;
      this.#state = 'header';
      events.push({ type: 'preface', version: PROTOCOL_VERSION });
    }
    return pos + take;
  }

  #readHeader(chunk: Buffer, pos: number, events: DecodedEvent[]): number {
    let length: number;
    let frameType: number;
    if (this.#headHave === 0 && chunk.length - pos >= FRAME_HEADER_LENGTH) {
      length = chunk.readUInt32BE(pos);
      frameType = chunk[pos + 4]!;
      pos += FRAME_HEADER_LENGTH;
    } else {
      const take = Math.min(FRAME_HEADER_LENGTH - this.#headHave, chunk.length - pos);
      chunk.copy(this.#head, this.#headHave, pos, pos + take);
      this.#headHave += take;
      pos += take;
      if (this.#headHave < FRAME_HEADER_LENGTH) return pos;
      this.#headHave = 0;
      length = this.#head.readUInt32BE(0);
      frameType = this.#head[4]!;
    }

    if (length === 0) {
      throw new P2pdError('PROTOCOL_BAD_MESSAGE', 'a frame announced length 0 (it must count its type byte)', { details: { length } });
    }
    const payloadLength = length - 1;
    if (frameType === FrameType.DATA) {
      if (payloadLength > this.#maxData) throw tooLarge(frameType, payloadLength, this.#maxData);
      if (payloadLength > 0) {
        this.#dataLeft = payloadLength;
        this.#state = 'data';
      }
      return pos;
    }
    if (!isControlFrameType(frameType)) {
      throw new P2pdError('PROTOCOL_BAD_MESSAGE', `unknown frame type ${frameName(frameType)}`, { details: { frameType } });
    }
    if (payloadLength > this.#maxControl) throw tooLarge(frameType, payloadLength, this.#maxControl);

    // Fast path: the whole payload is in this chunk; parse it where it lies.
    if (chunk.length - pos >= payloadLength) {
      events.push(decodeControl(frameType, chunk.subarray(pos, pos + payloadLength)));
      return pos + payloadLength;
    }
    this.#frameType = frameType;
    this.#payloadLength = payloadLength;
    this.#payload = Buffer.allocUnsafe(payloadLength);
    this.#payloadHave = 0;
    this.#state = 'control';
    return pos;
  }

  #readControl(chunk: Buffer, pos: number, events: DecodedEvent[]): number {
    const payload = this.#payload!;
    const take = Math.min(this.#payloadLength - this.#payloadHave, chunk.length - pos);
    chunk.copy(payload, this.#payloadHave, pos, pos + take);
    this.#payloadHave += take;
    if (this.#payloadHave === this.#payloadLength) {
      this.#payload = undefined;
      this.#payloadHave = 0;
      this.#state = 'header';
      events.push(decodeControl(this.#frameType, payload));
    }
    return pos + take;
  }
}

function decodeControl(frameType: number, payload: Buffer): ControlMessage {
  const name = frameName(frameType);
  if (!isUtf8(payload)) {
    throw new P2pdError('PROTOCOL_BAD_MESSAGE', `${name} payload is not valid UTF-8`, { details: { frameType: name } });
  }
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new P2pdError('PROTOCOL_BAD_MESSAGE', `${name} payload is not valid JSON`, { cause: err, details: { frameType: name } });
  }
  return readMessage(frameType, value);
}

function tooLarge(frameType: number, length: number, max: number): P2pdError {
  const name = frameName(frameType);
  return new P2pdError('PROTOCOL_FRAME_TOO_LARGE', `a ${name} frame announced ${length} payload bytes; at most ${max} are allowed`, {
    details: { frameType: name, length, max },
  });
}

function limit(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0 || value > LONGEST_PAYLOAD) {
    throw new P2pdError('INTERNAL', `FrameDecoder option ${name} must be an integer in 0..${LONGEST_PAYLOAD}, not ${value}`);
  }
  return value;
}
