/**
 * Protocol v1 message types. docs/PROTOCOL.md is the normative description; this file is its
 * TypeScript mirror. Pure: no I/O.
 */
import type { ErrorCode } from '../errors.js';

export const PROTOCOL_VERSION = 1;
/** First bytes on every connection, in both directions: "P2PD", version, three reserved zero bytes. */
export const MAGIC = Buffer.from('P2PD', 'latin1');
export const PREFACE_LENGTH = 8;
/** u32 big-endian length of (type byte + payload), then the type byte. */
export const FRAME_HEADER_LENGTH = 5;
/** Longest payload of a JSON (control) frame. An offer larger than this spans several frames. */
export const MAX_CONTROL_PAYLOAD = 1024 * 1024;
/** Longest payload of a DATA frame. Senders use up to DATA_CHUNK bytes; receivers accept up to this. */
export const MAX_DATA_PAYLOAD = 4 * 1024 * 1024;
/** What our sender puts in one DATA frame: large frames keep per-frame costs off the hot path. */
export const DATA_CHUNK = 1024 * 1024;
/**
 * Block of the hash list (feature "resume"): a file's hash is SHA-256 over the SHA-256 digests of
 * its consecutive BLOCK_SIZE blocks, so a receiver that kept a prefix knows that prefix's digests
 * without reading it again.
 */
export const BLOCK_SIZE = 1024 * 1024;

export const FrameType = {
  HELLO: 0x01,
  OFFER: 0x02,
  ANSWER: 0x03,
  FILE_BEGIN: 0x04,
  DATA: 0x05,
  FILE_END: 0x06,
  FILE_RESULT: 0x07,
  DONE: 0x08,
  SUMMARY: 0x09,
  ERROR: 0x0a,
  PING: 0x0b,
  PONG: 0x0c,
  PAIR_COMMIT: 0x20,
  PAIR_NONCE: 0x21,
  PAIR_REVEAL: 0x22,
  PAIR_CONFIRM: 0x23,
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** Feature names a HELLO may list; a side uses a feature only if both listed it. */
export type Feature = 'resume' | 'pairing';

export interface HelloMessage {
  type: 'hello';
  /** The sender's display name (untrusted: a hint, cleaned before display). */
  name: string;
  /** Free-form software version, e.g. "p2pd/0.1.0". */
  software: string;
  features: string[];
}

export interface OfferEntry {
  /** Relative path with "/" separators, as the sender names it; validated by the receiver's store. */
  path: string;
  kind: 'file' | 'dir';
  /** Bytes; 0 for directories. */
  size: number;
  /** Permission bits, 0..0o7777 on the wire (only 0o777 is honoured). */
  mode: number;
  /** Modification time, milliseconds since the epoch. */
  mtimeMs: number;
  /**
   * Stable identity of this version of the file on the sender (feature "resume"): the same file,
   * unchanged, has the same id in every offer; a changed file gets a new one. 64 hex digits.
   */
  fileId?: string;
}

export interface OfferMessage {
  type: 'offer';
  /** Chosen by the sender: 1..64 chars of [A-Za-z0-9_-]. */
  transferId: string;
  /** Number of entries of the whole offer (files and directories), repeated in every OFFER frame. */
  totalFiles: number;
  /** Sum of the sizes of all entries, repeated in every OFFER frame. */
  totalBytes: number;
  /** Entries of this frame; their index is their position in the concatenation of all OFFER frames. */
  entries: OfferEntry[];
  /** True when another OFFER frame with more entries follows. */
  more: boolean;
}

export interface AnswerFile {
  index: number;
  /** Resume point (only with the "resume" feature); absent means 0. */
  offset?: number;
  /** Per-file refusal; the sender skips this file. A code this version does not know is read as PEER_REFUSED. */
  skip?: ErrorCode;
}

export interface AnswerMessage {
  type: 'answer';
  accept: boolean;
  /** Why the offer was refused. A code this version does not know is read as PEER_REFUSED. */
  code?: ErrorCode;
  message?: string;
  files?: AnswerFile[];
}

export interface FileBeginMessage {
  type: 'file-begin';
  index: number;
  offset: number;
}

export interface DataMessage {
  type: 'data';
  /** Some bytes of the current file. One DATA frame may arrive as several of these. */
  chunk: Buffer;
}

export interface FileEndMessage {
  type: 'file-end';
  index: number;
  /** Lower-case hex SHA-256 of the whole file. */
  sha256: string;
}

export interface FileResultMessage {
  type: 'file-result';
  index: number;
  ok: boolean;
  /** Why the file failed. A code this version does not know is read as TRANSFER_FAILED. */
  code?: ErrorCode;
  message?: string;
}

export interface DoneMessage {
  type: 'done';
}

export interface SummaryMessage {
  type: 'summary';
  ok: boolean;
  files: number;
  bytes: number;
}

export interface ErrorMessage {
  type: 'error';
  /** A code this version does not know is read as TRANSFER_FAILED. */
  code: ErrorCode;
  message: string;
}

export interface PingMessage {
  type: 'ping';
}

export interface PongMessage {
  type: 'pong';
}

/** Pairing, first message from the initiator: SHA-256 of its secret nonce (commit before reveal). */
export interface PairCommitMessage {
  type: 'pair-commit';
  /** 64 lower-case hex digits. */
  commit: string;
}

/** Pairing, the responder's nonce (32 random bytes, hex). */
export interface PairNonceMessage {
  type: 'pair-nonce';
  nonce: string;
}

/** Pairing, the initiator reveals the nonce it committed to. */
export interface PairRevealMessage {
  type: 'pair-reveal';
  nonce: string;
}

/** Pairing, a side's user compared the codes: true = they match and the peer may be trusted. */
export interface PairConfirmMessage {
  type: 'pair-confirm';
  ok: boolean;
}

export type ControlMessage =
  | PairCommitMessage
  | PairNonceMessage
  | PairRevealMessage
  | PairConfirmMessage
  | HelloMessage
  | OfferMessage
  | AnswerMessage
  | FileBeginMessage
  | FileEndMessage
  | FileResultMessage
  | DoneMessage
  | SummaryMessage
  | ErrorMessage
  | PingMessage
  | PongMessage;

export type Message = ControlMessage | DataMessage;

/** The decoder's first event on every connection. */
export interface PrefaceEvent {
  type: 'preface';
  version: number;
}

export type DecodedEvent = PrefaceEvent | Message;
