/**
 * Encoder of protocol v1 (docs/PROTOCOL.md): the preface, whole control frames, and DATA frame
 * headers whose payload the caller writes separately. Every control message is checked against
 * the same rules the decoder applies, so nothing leaves that a peer would reject. Pure: no I/O.
 */
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
  type FrameTypeValue,
  type OfferEntry,
} from './messages.js';
import { CONTROL_FRAME_TYPE, frameName, readMessage, readOfferEntry, readOfferHead } from './validate.js';

/** The 8 bytes each side sends first: "P2PD", the version, three reserved zero bytes. */
export function encodePreface(version: number = PROTOCOL_VERSION): Buffer {
  if (!Number.isInteger(version) || version < 0 || version > 0xff) {
    throw new P2pdError('INTERNAL', `protocol version ${version} does not fit in one byte`);
  }
  const preface = Buffer.alloc(PREFACE_LENGTH);
  MAGIC.copy(preface, 0);
  preface[MAGIC.length] = version;
  return preface;
}

/**
 * One whole control frame: header and JSON payload, the payload holding only the message's known
 * fields and never `type` (the frame's type byte says it). Throws PROTOCOL_BAD_MESSAGE for a field
 * a peer would reject and PROTOCOL_FRAME_TOO_LARGE when the JSON exceeds MAX_CONTROL_PAYLOAD
 * (split long offers with encodeOffer).
 */
export function encodeMessage(msg: ControlMessage): Buffer {
  const frameType = Object.hasOwn(CONTROL_FRAME_TYPE, msg.type) ? CONTROL_FRAME_TYPE[msg.type] : undefined;
  if (frameType === undefined) {
    throw new P2pdError('INTERNAL', `cannot encode a message of type ${JSON.stringify(msg.type)}`);
  }
  const { type, ...fields } = readMessage(frameType, msg);
  return controlFrame(frameType, JSON.stringify(fields), MAX_CONTROL_PAYLOAD);
}

/**
 * The 5-byte header of a DATA frame carrying `length` bytes; the caller writes the payload itself
 * right after it, so file chunks are never copied.
 */
export function encodeDataHeader(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new P2pdError('INTERNAL', `DATA payload length ${length} is not a non-negative integer`);
  }
  if (length > MAX_DATA_PAYLOAD) {
    throw new P2pdError('PROTOCOL_FRAME_TOO_LARGE', `DATA payload of ${length} bytes exceeds ${MAX_DATA_PAYLOAD}`, {
      details: { frameType: 'DATA', length, max: MAX_DATA_PAYLOAD },
    });
  }
  return header(FrameType.DATA, length);
}

/**
 * Packs an offer's entries, in order, into OFFER frames of at most `maxPayload` bytes of JSON each,
 * filling each frame before starting the next; `more` is true on all frames but the last. An empty
 * entry list gives one frame. Throws PROTOCOL_BAD_MESSAGE for an invalid field and
 * PROTOCOL_FRAME_TOO_LARGE when a single entry cannot fit in a frame.
 */
export function encodeOffer(
  transferId: string,
  totalFiles: number,
  totalBytes: number,
  entries: readonly OfferEntry[],
  maxPayload: number = MAX_CONTROL_PAYLOAD,
): Buffer[] {
  if (!Number.isSafeInteger(maxPayload) || maxPayload < 1 || maxPayload > MAX_CONTROL_PAYLOAD) {
    throw new P2pdError('INTERNAL', `maxPayload must be an integer in 1..${MAX_CONTROL_PAYLOAD}, not ${maxPayload}`);
  }
  const head = readOfferHead({ transferId, totalFiles, totalBytes, more: false });
  // The JSON of each frame is `${open}${entry},${entry}...${close}`, byte for byte what
  // encodeMessage gives for the same OFFER. Sizes assume "false" (the longer literal) everywhere.
  const open =
    `{"transferId":${JSON.stringify(head.transferId)},"totalFiles":${JSON.stringify(head.totalFiles)},` +
    `"totalBytes":${JSON.stringify(head.totalBytes)},"entries":[`;
  const close = (more: boolean): string => `],"more":${more}}`;
  const overhead = Buffer.byteLength(open) + close(false).length;
  if (overhead > maxPayload) throw tooLarge(FrameType.OFFER, overhead, maxPayload);

  const groups: string[][] = [];
  let group: string[] = [];
  let size = overhead;
  entries.forEach((entry, i) => {
    const json = JSON.stringify(readOfferEntry(entry, `OFFER.entries[${i}]`));
    const bytes = Buffer.byteLength(json);
    if (overhead + bytes > maxPayload) throw tooLarge(FrameType.OFFER, overhead + bytes, maxPayload, { entry: i });
    const added = group.length === 0 ? bytes : bytes + 1; // the comma
    if (size + added > maxPayload) {
      groups.push(group);
      group = [json];
      size = overhead + bytes;
    } else {
      group.push(json);
      size += added;
    }
  });
  groups.push(group);
  return groups.map((g, i) => controlFrame(FrameType.OFFER, open + g.join(',') + close(i < groups.length - 1), maxPayload));
}

function header(frameType: FrameTypeValue, payloadLength: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
  h.writeUInt32BE(payloadLength + 1, 0);
  h[4] = frameType;
  return h;
}

function controlFrame(frameType: FrameTypeValue, json: string, maxPayload: number): Buffer {
  const length = Buffer.byteLength(json);
  if (length > maxPayload) throw tooLarge(frameType, length, maxPayload);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + length);
  frame.writeUInt32BE(length + 1, 0);
  frame[4] = frameType;
  frame.write(json, FRAME_HEADER_LENGTH, 'utf8');
  return frame;
}

function tooLarge(frameType: number, length: number, max: number, extra: Record<string, unknown> = {}): P2pdError {
  const name = frameName(frameType);
  return new P2pdError('PROTOCOL_FRAME_TOO_LARGE', `${name} payload of ${length} bytes exceeds ${max}`, {
    details: { frameType: name, length, max, ...extra },
  });
}
