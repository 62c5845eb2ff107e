/**
 * Frames over a Duplex: a writer that respects backpressure and a reader that turns the byte
 * stream into protocol events. Both work on any Duplex (TLS socket, TCP socket, in-memory pair).
 */
import type { Duplex, Writable } from 'node:stream';
import { P2pdError, toP2pdError } from '../errors.js';
import { encodeDataHeader, encodeMessage, encodePreface } from '../protocol/codec.js';
import { FrameDecoder } from '../protocol/decoder.js';
import type { ControlMessage, DecodedEvent, ErrorMessage } from '../protocol/messages.js';

/** Outgoing bytes a writer lets queue in user space before it waits for the socket to drain: two
 * DATA chunks keep the kernel busy; more is memory (docs/PERFORMANCE.md#memory). */
export const MAX_BUFFERED_BYTES = 2 * 1024 * 1024;
/** DATA chunks up to this size wait for the end of the event loop's turn with the other frames. */
const HOLD_MAX_CHUNK = 64 * 1024;

export class FrameWriter {
  readonly #socket: Duplex;
  #lastWrite = Date.now();
  /** Frames written in one turn of the event loop go out together (see #hold). */
  #holding = false;

  constructor(socket: Duplex) {
    this.#socket = socket;
  }

  get lastWrite(): number {
    return this.#lastWrite;
  }

  preface(): void {
    this.#write(encodePreface());
  }

  /** Queues a control frame; call `drained()` before producing a lot more. */
  send(message: ControlMessage): boolean {
    return this.#write(encodeMessage(message));
  }

  sendAll(frames: Buffer[]): boolean {
    let ok = true;
    for (const f of frames) ok = this.#write(f);
    return ok;
  }

  /**
   * Writes one DATA frame without copying the chunk; resolves once the socket can take more.
   * A socket's own high-water mark (16 KiB) would make every 1 MiB chunk wait for a full drain
   * and leave the link idle while the next chunk is read and hashed, so the bound here is a few
   * chunks: memory stays flat and the kernel always has data to send. `onWritten` is called once
   * the socket no longer needs the chunk (written, or the socket failed).
   */
  async data(chunk: Buffer, signal: AbortSignal, onWritten?: () => void): Promise<void> {
    const socket = this.#socket;
    signal.throwIfAborted();
    if (socket.destroyed || socket.writableEnded) throw closedError(socket);
    // A big chunk goes out at once, with whatever is held before it: the kernel sends it while
    // the sender hashes it and reads the next.
    if (chunk.length <= HOLD_MAX_CHUNK) this.#hold();
    else this.#release();
    socket.cork();
    socket.write(encodeDataHeader(chunk.length));
    if (onWritten === undefined) socket.write(chunk);
    else socket.write(chunk, () => onWritten());
    socket.uncork();
    this.#lastWrite = Date.now();
    if (socket.writableLength > MAX_BUFFERED_BYTES) await waitDrain(socket, signal);
  }

  /**
   * Waits while more than MAX_BUFFERED_BYTES are queued. Not the socket's own 16 KiB mark: a send
   * of many small files would wait for a full drain every few files and leave the link idle.
   */
  async drained(signal: AbortSignal): Promise<void> {
    if (this.#socket.writableLength > MAX_BUFFERED_BYTES) await waitDrain(this.#socket, signal);
  }

  #write(buf: Buffer): boolean {
    if (this.#socket.destroyed || this.#socket.writableEnded) return false;
    this.#lastWrite = Date.now();
    this.#hold();
    return this.#socket.write(buf);
  }

  /**
   * Holds what is written until the end of this turn of the event loop, so that the frames of many
   * small files (FILE_BEGIN, DATA, FILE_END) or many FILE_RESULTs leave in one TLS write instead of
   * one system call and one TLS record each. end() flushes whatever is held.
   */
  #release(): void {
    if (!this.#holding) return;
    this.#holding = false;
    if (this.#socket.writableCorked > 0) this.#socket.uncork();
  }

  #hold(): void {
    if (this.#holding) return;
    this.#holding = true;
    this.#socket.cork();
    setImmediate(() => {
      this.#holding = false;
      if (this.#socket.writableCorked > 0) this.#socket.uncork();
    });
  }
}

/** Waits for 'drain', failing if the socket closes, errors or the signal aborts first. */
export function waitDrain(socket: Writable, signal: AbortSignal): Promise<void> {
  if (socket.destroyed) return Promise.reject(closedError(socket));
  // A file stream that failed (ENOSPC) but is not destroyed would never drain.
  const errored = (socket as { errored?: unknown }).errored;
  if (errored !== null && errored !== undefined) return Promise.reject(toP2pdError(errored, 'INBOX_UNWRITABLE'));
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(closedError(socket));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(toP2pdError(err, 'CONNECTION_LOST'));
    };
    const onAbort = (): void => {
      cleanup();
      reject(toP2pdError(signal.reason ?? new P2pdError('TRANSFER_CANCELLED', 'cancelled')));
    };
    if (signal.aborted) return onAbort();
    socket.once('drain', onDrain);
    socket.once('close', onClose);
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function closedError(socket: Writable): P2pdError {
  const reason = (socket as { errored?: unknown }).errored;
  if (reason instanceof P2pdError) return reason;
  return new P2pdError('CONNECTION_LOST', 'the connection to the peer closed', reason === null || reason === undefined ? {} : { cause: reason });
}

/**
 * Protocol events from a socket, in order. Pulling the next event is what reads more bytes, so a
 * consumer that awaits its disk writes slows the peer down through TCP: backpressure end to end.
 */
export async function* readEvents(
  socket: Duplex,
  onChunk?: (events: readonly DecodedEvent[]) => void,
  decoder = new FrameDecoder(),
): AsyncGenerator<DecodedEvent> {
  try {
    // Leaving the loop on a protocol error must not destroy the socket: the ERROR frame that
    // explains the failure still has to go out.
    for await (const chunk of socket.iterator({ destroyOnReturn: false })) {
      const events = decoder.push(chunk as Buffer);
      onChunk?.(events);
      for (const e of events) yield e;
    }
  } catch (err) {
    const reason = (socket as { errored?: unknown }).errored;
    if (reason instanceof P2pdError) throw reason;
    throw toP2pdError(err, 'CONNECTION_LOST');
  }
  decoder.end();
}

/** An ERROR frame from the peer as an error to throw; marked so it is not echoed back. */
export function errorFromPeer(message: ErrorMessage): P2pdError {
  const e = P2pdError.fromJSON({ code: message.code, message: message.message });
  return new P2pdError(e.code, e.message, { details: { from: 'peer' } });
}

export function isFromPeer(err: P2pdError): boolean {
  return err.details?.from === 'peer';
}

/**
 * The next message that is not a heartbeat: PINGs are answered, PONGs dropped, an ERROR from the
 * peer is thrown, and the end of the stream is a lost connection (`whenClosed` says what it cut).
 */
export async function nextMessage(events: AsyncIterator<DecodedEvent>, writer: FrameWriter, whenClosed: string): Promise<DecodedEvent> {
  for (;;) {
    const r = await events.next();
    if (r.done === true) throw new P2pdError('CONNECTION_LOST', whenClosed);
    const e = r.value;
    if (e.type === 'ping') {
      writer.send({ type: 'pong' });
      continue;
    }
    if (e.type === 'pong') continue;
    if (e.type === 'error') throw errorFromPeer(e);
    return e;
  }
}

/**
 * Ends a connection with a reason: an ERROR frame, then our side closed, then the socket destroyed
 * after `graceMs`. Destroying at once would reset the connection and the peer would see a lost
 * connection instead of the reason.
 */
export function closeWithError(socket: Duplex, writer: FrameWriter, reason: P2pdError, graceMs = 1000): void {
  writer.send({ type: 'error', code: reason.code, message: reason.message });
  socket.end();
  // Nobody may be reading any more: the reason must not surface as an unhandled 'error'.
  socket.on('error', () => undefined);
  setTimeout(() => socket.destroy(reason), graceMs).unref();
}

/** The reason an aborted signal carries, as a P2pdError. */
export function abortReason(signal: AbortSignal): P2pdError {
  return toP2pdError(signal.reason ?? new P2pdError('TRANSFER_CANCELLED', 'cancelled'));
}
