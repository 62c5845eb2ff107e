/**
 * The shape rules of protocol v1 control messages (docs/PROTOCOL.md, "Messages"), shared by the
 * decoder (checking what a peer sent) and the encoder (refusing to send what a peer would reject).
 * Each reader takes an untrusted value and returns a fresh message holding only the known fields;
 * unknown fields are dropped. Pure: no I/O.
 */
import { P2pdError, isErrorCode, type ErrorCode } from '../errors.js';
import {
  FrameType,
  type AnswerFile,
  type AnswerMessage,
  type ControlMessage,
  type FileResultMessage,
  type FrameTypeValue,
  type HelloMessage,
  type OfferEntry,
  type OfferMessage,
} from './messages.js';

export const LIMITS = {
  /** HELLO.name and HELLO.software, in UTF-16 code units. */
  helloText: 256,
  helloFeatures: 32,
  featureName: 64,
  offerPath: 4096,
  /** ANSWER.message, FILE_RESULT.message and ERROR.message. */
  message: 1024,
  /** Every error code field. */
  code: 64,
  /** OFFER.entries[].mode. */
  mode: 0o7777,
} as const;

const TRANSFER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

type ControlType = ControlMessage['type'];

/** Frame type of each control message; DATA has no entry, it is never JSON. */
export const CONTROL_FRAME_TYPE: Readonly<Record<ControlType, FrameTypeValue>> = {
  hello: FrameType.HELLO,
  offer: FrameType.OFFER,
  answer: FrameType.ANSWER,
  'file-begin': FrameType.FILE_BEGIN,
  'file-end': FrameType.FILE_END,
  'file-result': FrameType.FILE_RESULT,
  done: FrameType.DONE,
  summary: FrameType.SUMMARY,
  error: FrameType.ERROR,
  ping: FrameType.PING,
  pong: FrameType.PONG,
  'pair-commit': FrameType.PAIR_COMMIT,
  'pair-nonce': FrameType.PAIR_NONCE,
  'pair-reveal': FrameType.PAIR_REVEAL,
  'pair-confirm': FrameType.PAIR_CONFIRM,
};

/** Upper-case frame names for messages and logs, indexed by type byte. */
const FRAME_NAMES = new Map<number, string>(Object.entries(FrameType).map(([name, value]) => [value, name]));

export function frameName(frameType: number): string {
  return FRAME_NAMES.get(frameType) ?? `0x${frameType.toString(16).padStart(2, '0')}`;
}

/** True for the type byte of a control frame this version knows. */
export function isControlFrameType(frameType: number): boolean {
  return frameType !== FrameType.DATA && FRAME_NAMES.has(frameType);
}

/**
 * Codes a peer may send that this version does not know are read as a generic failure of the
 * same kind (docs/PROTOCOL.md, "Error codes"): a refusal inside ANSWER, a failed transfer elsewhere.
 */
const UNKNOWN_CODE_IN_ANSWER: ErrorCode = 'PEER_REFUSED';
const UNKNOWN_CODE_ELSEWHERE: ErrorCode = 'TRANSFER_FAILED';

type Fields = Record<string, unknown>;

function invalid(where: string, key: string, expected: string): P2pdError {
  const field = `${where}.${key}`;
  return new P2pdError('PROTOCOL_BAD_MESSAGE', `${field} must be ${expected}`, { details: { field } });
}

function get(o: Fields, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

function object(value: unknown, where: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new P2pdError('PROTOCOL_BAD_MESSAGE', `${where} must be a JSON object`, { details: { field: where } });
  }
  return value as Fields;
}

function uint(o: Fields, key: string, where: string): number {
  const v = get(o, key);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(where, key, 'a non-negative safe integer');
  return v;
}

function optUint(o: Fields, key: string, where: string): number | undefined {
  return get(o, key) === undefined ? undefined : uint(o, key, where);
}

function bool(o: Fields, key: string, where: string): boolean {
  const v = get(o, key);
  if (typeof v !== 'boolean') throw invalid(where, key, 'a boolean');
  return v;
}

function text(o: Fields, key: string, where: string, min: number, max: number): string {
  const v = get(o, key);
  if (typeof v !== 'string' || v.length < min || v.length > max) {
    throw invalid(where, key, `a string of ${min}..${max} UTF-16 code units`);
  }
  return v;
}

function optText(o: Fields, key: string, where: string, max: number): string | undefined {
  return get(o, key) === undefined ? undefined : text(o, key, where, 0, max);
}

function matching(o: Fields, key: string, where: string, pattern: RegExp, expected: string): string {
  const v = get(o, key);
  if (typeof v !== 'string' || !pattern.test(v)) throw invalid(where, key, expected);
  return v;
}

function array(o: Fields, key: string, where: string, maxItems = Infinity): unknown[] {
  const v = get(o, key);
  if (!Array.isArray(v) || v.length > maxItems) {
    throw invalid(where, key, maxItems === Infinity ? 'an array' : `an array of at most ${maxItems} items`);
  }
  return v;
}

function code(o: Fields, key: string, where: string, unknown: ErrorCode): ErrorCode {
  const v = text(o, key, where, 1, LIMITS.code);
  return isErrorCode(v) ? v : unknown;
}

function optCode(o: Fields, key: string, where: string, unknown: ErrorCode): ErrorCode | undefined {
  return get(o, key) === undefined ? undefined : code(o, key, where, unknown);
}

function readHello(o: Fields): HelloMessage {
  const where = 'HELLO';
  const features = array(o, 'features', where, LIMITS.helloFeatures).map((f, i) => {
    if (typeof f !== 'string' || f.length > LIMITS.featureName) {
      throw invalid(where, `features[${i}]`, `a string of at most ${LIMITS.featureName} UTF-16 code units`);
    }
    return f;
  });
  return {
    type: 'hello',
    name: text(o, 'name', where, 0, LIMITS.helloText),
    software: text(o, 'software', where, 0, LIMITS.helloText),
    features,
  };
}

/** Reads one OFFER entry; `where` names it in errors, e.g. "OFFER.entries[3]". */
export function readOfferEntry(value: unknown, where: string): OfferEntry {
  const o = object(value, where);
  const kind = get(o, 'kind');
  if (kind !== 'file' && kind !== 'dir') throw invalid(where, 'kind', '"file" or "dir"');
  const size = uint(o, 'size', where);
  if (kind === 'dir' && size !== 0) throw invalid(where, 'size', '0 for a directory');
  const mode = uint(o, 'mode', where);
  if (mode > LIMITS.mode) throw invalid(where, 'mode', 'at most 0o7777');
  const mtimeMs = get(o, 'mtimeMs');
  if (typeof mtimeMs !== 'number' || !Number.isFinite(mtimeMs) || mtimeMs < 0) {
    throw invalid(where, 'mtimeMs', 'a finite non-negative number');
  }
  const entry: OfferEntry = { path: text(o, 'path', where, 1, LIMITS.offerPath), kind, size, mode, mtimeMs };
  if (get(o, 'fileId') !== undefined) {
    if (kind !== 'file') throw invalid(where, 'fileId', 'absent on a directory');
    entry.fileId = matching(o, 'fileId', where, SHA256_HEX, '64 lower-case hex digits');
  }
  return entry;
}

/** Checks the OFFER fields other than `entries`; shared with encodeOffer, which packs entries itself. */
export function readOfferHead(o: Fields): Omit<OfferMessage, 'entries'> {
  const where = 'OFFER';
  return {
    type: 'offer',
    transferId: matching(o, 'transferId', where, TRANSFER_ID, '1..64 characters of [A-Za-z0-9_-]'),
    totalFiles: uint(o, 'totalFiles', where),
    totalBytes: uint(o, 'totalBytes', where),
    more: bool(o, 'more', where),
  };
}

function readOffer(o: Fields): OfferMessage {
  const head = readOfferHead(o);
  const entries = array(o, 'entries', 'OFFER').map((e, i) => readOfferEntry(e, `OFFER.entries[${i}]`));
  // Key order matters only for readable bytes on the wire; keep it as documented.
  return { type: 'offer', transferId: head.transferId, totalFiles: head.totalFiles, totalBytes: head.totalBytes, entries, more: head.more };
}

function readAnswer(o: Fields): AnswerMessage {
  const where = 'ANSWER';
  const msg: AnswerMessage = { type: 'answer', accept: bool(o, 'accept', where) };
  const c = optCode(o, 'code', where, UNKNOWN_CODE_IN_ANSWER);
  if (c !== undefined) msg.code = c;
  const message = optText(o, 'message', where, LIMITS.message);
  if (message !== undefined) msg.message = message;
  if (get(o, 'files') !== undefined) {
    msg.files = array(o, 'files', where).map((value, i) => {
      const at = `ANSWER.files[${i}]`;
      const f = object(value, at);
      const file: AnswerFile = { index: uint(f, 'index', at) };
      const offset = optUint(f, 'offset', at);
      if (offset !== undefined) file.offset = offset;
      const skip = optCode(f, 'skip', at, UNKNOWN_CODE_IN_ANSWER);
      if (skip !== undefined) file.skip = skip;
      return file;
    });
  }
  return msg;
}

function readFileResult(o: Fields): FileResultMessage {
  const where = 'FILE_RESULT';
  const msg: FileResultMessage = { type: 'file-result', index: uint(o, 'index', where), ok: bool(o, 'ok', where) };
  const c = optCode(o, 'code', where, UNKNOWN_CODE_ELSEWHERE);
  if (c !== undefined) msg.code = c;
  const message = optText(o, 'message', where, LIMITS.message);
  if (message !== undefined) msg.message = message;
  return msg;
}

/**
 * Checks a control message's payload against the rules of its frame type and returns a fresh
 * message with only the known fields. Throws P2pdError PROTOCOL_BAD_MESSAGE naming the field.
 * `frameType` must be a control frame type (isControlFrameType).
 */
export function readMessage(frameType: number, value: unknown): ControlMessage {
  const where = frameName(frameType);
  const o = object(value, where);
  switch (frameType) {
    case FrameType.HELLO:
      return readHello(o);
    case FrameType.OFFER:
      return readOffer(o);
    case FrameType.ANSWER:
      return readAnswer(o);
    case FrameType.FILE_BEGIN:
      return { type: 'file-begin', index: uint(o, 'index', where), offset: uint(o, 'offset', where) };
    case FrameType.FILE_END:
      return {
        type: 'file-end',
        index: uint(o, 'index', where),
        sha256: matching(o, 'sha256', where, SHA256_HEX, '64 lower-case hex digits'),
      };
    case FrameType.FILE_RESULT:
      return readFileResult(o);
    case FrameType.DONE:
      return { type: 'done' };
    case FrameType.SUMMARY:
      return { type: 'summary', ok: bool(o, 'ok', where), files: uint(o, 'files', where), bytes: uint(o, 'bytes', where) };
    case FrameType.ERROR:
      return {
        type: 'error',
        code: code(o, 'code', where, UNKNOWN_CODE_ELSEWHERE),
        message: text(o, 'message', where, 0, LIMITS.message),
      };
    case FrameType.PING:
      return { type: 'ping' };
    case FrameType.PONG:
      return { type: 'pong' };
    case FrameType.PAIR_COMMIT:
      return { type: 'pair-commit', commit: matching(o, 'commit', where, SHA256_HEX, '64 lower-case hex digits') };
    case FrameType.PAIR_NONCE:
      return { type: 'pair-nonce', nonce: matching(o, 'nonce', where, SHA256_HEX, '64 lower-case hex digits') };
    case FrameType.PAIR_REVEAL:
      return { type: 'pair-reveal', nonce: matching(o, 'nonce', where, SHA256_HEX, '64 lower-case hex digits') };
    case FrameType.PAIR_CONFIRM:
      return { type: 'pair-confirm', ok: bool(o, 'ok', where) };
    default:
      throw new P2pdError('PROTOCOL_BAD_MESSAGE', `frame type ${where} is not a control message`, { details: { frameType } });
  }
}
