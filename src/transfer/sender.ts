/**
 * The sending side of one transfer over any Duplex: preface and HELLO, the offer, then every file
 * back to back (no round trip per file) while the receiver's verdicts stream back.
 */
import { fileHash } from './block-hash.js';
import type { Duplex } from 'node:stream';
import { faultSide, P2pdError, toP2pdError, type ErrorCode } from '../errors.js';
import { encodeOffer } from '../protocol/codec.js';
import { BLOCK_SIZE, DATA_CHUNK, type AnswerMessage, type DecodedEvent, type SummaryMessage } from '../protocol/messages.js';
import { bothSupport } from '../protocol/handshake.js';
import { Failure } from './failure.js';
import { abortReason, closeWithError, errorFromPeer, FrameWriter, isFromPeer, nextMessage, readEvents } from './frame-io.js';
import { exchangeHello } from './handshake.js';
import { startHeartbeat } from './heartbeat.js';
import { ReadAhead } from './read-ahead.js';
import { afterUses, ChunkPool, MAX_POOLED_CHUNKS, SMALL_FILES_POOLED_BYTES } from './chunk-pool.js';
import { BlockDigestCache } from './digest-cache.js';
import type { FileSource, SessionOptions } from './ports.js';
import type { FileOutcome, TransferProgress } from './progress.js';

export interface SenderOptions extends SessionOptions {
  transferId: string;
  /** Called often during the transfer; keep it cheap. */
  onProgress?: (p: TransferProgress) => void;
  /** Called once the receiver has accepted (before data flows). */
  onAccepted?: () => void;
  /** The receiver's HELLO name, as soon as it is known. */
  onPeerHello?: (name: string) => void;
  /** Bytes the receiver already had (resume), once its answer is in. */
  onResume?: (bytes: number) => void;
  /** Each file's verdict as it arrives. */
  onFileResult?: (outcome: FileOutcome) => void;
  /** This side's block digests by file id, kept across attempts so a resume reads nothing twice. */
  digests?: BlockDigestCache;
  /** Files and bytes delivered by earlier attempts, counted into progress. */
  baseProgress?: { files: number; bytes: number };
}

export interface SendResult {
  ok: boolean;
  files: FileOutcome[];
  bytes: number;
}

/** Runs the transfer to its end. Resolves when the receiver has answered for every file. */
export async function runSender(deps: { socket: Duplex; source: FileSource }, options: SenderOptions): Promise<SendResult> {
  const { socket, source } = deps;
  const { signal } = options;
  const writer = new FrameWriter(socket);
  const entries = source.entries;
  const fileIndexes = entries.flatMap((e, i) => (e.kind === 'file' ? [i] : []));
  const totalBytes = fileIndexes.reduce((n, i) => n + entries[i]!.size, 0);
  const outcomes = new Map<number, FileOutcome>();
  const base = options.baseProgress ?? { files: 0, bytes: 0 };
  const progress: TransferProgress = {
    phase: 'connecting',
    filesTotal: fileIndexes.length + base.files,
    filesDone: base.files,
    filesFailed: 0,
    bytesTotal: totalBytes + base.bytes,
    bytesDone: base.bytes,
  };
  const report = (): void => options.onProgress?.({ ...progress, ...(progress.file ? { file: { ...progress.file } } : {}) });

  let answerWaiter: Deferred<AnswerMessage> | undefined = deferred();
  const summary = deferred<SummaryMessage>();
  const handshake = deferred<void>();
  const failure = new Failure();

  const fail = (err: unknown): void => {
    const e = toP2pdError(err, 'CONNECTION_LOST');
    answerWaiter?.reject(e);
    summary.reject(e);
    handshake.reject(e);
    failure.fail(e);
  };

  const onAbort = (): void => {
    const reason = abortReason(signal);
    fail(reason);
    closeWithError(socket, writer, reason);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const handshakeTimer = setTimeout(
    () => fail(new P2pdError('TIMEOUT', `the receiver did not complete the p2pd handshake within ${options.handshakeTimeoutMs} ms`)),
    options.handshakeTimeoutMs,
  );
  const heartbeat = startHeartbeat({ socket, writer, idleTimeoutMs: options.idleTimeoutMs });

  let peerResumes = false;
  const events = readEvents(socket, heartbeat.touch)[Symbol.asyncIterator]();
  const closedEarly = 'the receiver closed the connection before the transfer finished';
  const reader = (async () => {
    const local = { name: options.localName, software: options.software, features: ['resume'] as const };
    const hello = await exchangeHello({ writer, next: () => nextMessage(events, writer, closedEarly) }, local, 'receiver');
    peerResumes = bothSupport(local, hello, 'resume');
    clearTimeout(handshakeTimer);
    options.onPeerHello?.(hello.name);
    handshake.resolve();
    for (let r = await events.next(); r.done !== true; r = await events.next()) handleEvent(r.value);
    throw new P2pdError('CONNECTION_LOST', closedEarly);
  })();
  reader.catch(fail);

  function handleEvent(event: DecodedEvent): void {
    switch (event.type) {
      case 'answer':
        if (answerWaiter === undefined) throw new P2pdError('PROTOCOL_UNEXPECTED', 'a second ANSWER');
        answerWaiter.resolve(event);
        answerWaiter = undefined;
        return;
      case 'file-result': {
        const entry = entries[event.index];
        if (entry === undefined || entry.kind !== 'file' || outcomes.has(event.index)) {
          throw new P2pdError('PROTOCOL_UNEXPECTED', `a FILE_RESULT for entry ${event.index}, which was not sent or already answered`);
        }
        const o = outcome(event.index, entry.path, event.ok, event.code, event.message);
        o.bytes = entry.size;
        outcomes.set(event.index, o);
        options.onFileResult?.(o);
        if (event.ok) progress.filesDone++;
        else progress.filesFailed++;
        report();
        return;
      }
      case 'summary':
        summary.resolve(event);
        return;
      case 'error':
        throw errorFromPeer(event);
      case 'ping':
        writer.send({ type: 'pong' });
        return;
      case 'pong':
        return;
      default:
        throw new P2pdError('PROTOCOL_UNEXPECTED', `the receiver sent ${event.type} to a sender`);
    }
  }

  try {
    await failure.race(handshake.promise);
    progress.phase = 'waiting';
    report();
    // File ids only mean something to a receiver that resumes.
    const offered = peerResumes ? [...entries] : entries.map(({ fileId: _id, ...rest }) => rest);
    writer.sendAll(encodeOffer(options.transferId, entries.length, totalBytes, offered));
    const answer = await failure.race(answerWaiter!.promise);
    if (!answer.accept) {
      throw errorFromPeer({ type: 'error', code: answer.code ?? 'PEER_REFUSED', message: answer.message ?? 'the receiver refused the offer' });
    }
    const skipped = new Map<number, ErrorCode>();
    const offsets = new Map<number, number>();
    for (const f of answer.files ?? []) {
      if (f.skip !== undefined) skipped.set(f.index, f.skip);
      const offset = f.offset ?? 0;
      if (offset === 0) continue;
      const entry = entries[f.index];
      if (!peerResumes || entry === undefined || entry.kind !== 'file' || offset % BLOCK_SIZE !== 0 || offset > entry.size) {
        throw new P2pdError('PROTOCOL_UNEXPECTED', `the receiver asked to resume entry ${f.index} at ${offset}, which is not a valid resume point`);
      }
      offsets.set(f.index, offset);
    }
    const resumedBytes = [...offsets.values()].reduce((n, o) => n + o, 0);
    progress.bytesDone += resumedBytes;
    options.onResume?.(resumedBytes);
    options.onAccepted?.();
    progress.phase = 'sending';
    report();

    const toSend = fileIndexes.filter((i) => !skipped.has(i)).map((index) => ({ index, size: entries[index]!.size }));
    const buffers = new ChunkPool({ size: DATA_CHUNK, max: MAX_POOLED_CHUNKS, keepSmallBytes: SMALL_FILES_POOLED_BYTES });
    const readAhead = new ReadAhead(source, toSend, signal, buffers);
    for (const index of fileIndexes) {
      const entry = entries[index]!;
      const skip = skipped.get(index);
      if (skip !== undefined) {
        outcomes.set(index, outcome(index, entry.path, false, skip, 'refused by the receiver'));
        progress.filesFailed++;
        progress.bytesTotal -= entry.size;
        report();
        continue;
      }
      const sending = sendFile(index, offsets.get(index) ?? 0, readAhead, buffers);
      sending.catch(() => undefined); // a loss of the race is reported through `failure`
      await failure.race(sending);
    }
    writer.send({ type: 'done' });
    progress.phase = 'verifying';
    report();
    const end = await failure.race(summary.promise);
    socket.end();
    progress.phase = 'done';
    report();
    const files = fileIndexes.map(
      (i) => outcomes.get(i) ?? outcome(i, entries[i]!.path, false, 'PROTOCOL_UNEXPECTED', 'the receiver gave no result for this file'),
    );
    return { ok: end.ok && files.every((f) => f.ok), files, bytes: progress.bytesDone - base.bytes };
  } catch (err) {
    const e = signal.aborted ? toP2pdError(signal.reason ?? err) : toP2pdError(err, 'CONNECTION_LOST');
    if (!signal.aborted && !socket.destroyed && !isFromPeer(e) && isLocalFault(e)) {
      writer.send({ type: 'error', code: e.code, message: e.message });
      socket.end();
    }
    setTimeout(() => socket.destroy(), 1000).unref();
    throw e;
  } finally {
    clearTimeout(handshakeTimer);
    heartbeat.stop();
    signal.removeEventListener('abort', onAbort);
  }

  /**
   * One file from `offset` on. With resume the bytes before `offset` are still read and hashed
   * here (a local read, no network) so that the final hash vouches for the whole file.
   */
  async function sendFile(index: number, offset: number, readAhead: ReadAhead, buffers: ChunkPool): Promise<void> {
    const entry = entries[index]!;
    writer.send({ type: 'file-begin', index, offset });
    const current = { index, path: entry.path, bytes: entry.size, bytesDone: offset };
    progress.file = current;
    // The digests of the blocks before `offset`, when an earlier attempt hashed them: then the
    // prefix is neither read nor hashed again.
    const fileId = peerResumes && BlockDigestCache.worthKeeping(entry.size) ? entry.fileId : undefined;
    const cache = options.digests;
    const known = fileId !== undefined && offset > 0 && source.canStart === true ? cache?.prefix(fileId, offset) : undefined;
    const onBlock = fileId === undefined ? undefined : cache?.record(fileId, known ?? []);
    let position = known === undefined ? 0 : offset;
    const blocks = { prefix: known ?? [], worker: options.hashWorker, bytes: entry.size - position };
    const hash = fileHash(peerResumes, onBlock === undefined ? blocks : { ...blocks, onBlock });
    for await (const chunk of readAhead.read(index, position)) {
      const start = position;
      position += chunk.length;
      if (position <= offset) {
        await hash.update(chunk);
        buffers.give(chunk);
        continue;
      }
      const part = start >= offset ? chunk : chunk.subarray(offset - start);
      // The chunk's buffer is read again once both the socket and the hash are done with it.
      const done = afterUses(2, () => buffers.give(chunk));
      // Encrypting and queueing first lets the kernel send while this chunk is hashed.
      const writing = writer.data(part, signal, done);
      // A cancel may fail the write while the hash is awaited: not an unhandled rejection (which
      // ends the process); it is thrown by the `await writing` below.
      writing.catch(() => undefined);
      await hash.update(chunk);
      done();
      await writing;
      progress.bytesDone += part.length;
      current.bytesDone = position;
      report();
    }
    delete progress.file;
    if (position !== entry.size) {
      throw new P2pdError('SOURCE_CHANGED', `${entry.path} changed while it was being sent`, { details: { path: entry.path } });
    }
    writer.send({ type: 'file-end', index, sha256: await hash.final() });
    await writer.drained(signal);
  }
}

/** Failures of this side or of the receiver are worth telling it; a broken link or a decision is not. */
function isLocalFault(e: P2pdError): boolean {
  const side = faultSide(e.code);
  return side === 'local' || side === 'peer';
}

function outcome(index: number, path: string, ok: boolean, code?: string, message?: string): FileOutcome {
  const o: FileOutcome = { index, path, ok };
  if (!ok) {
    o.error = P2pdError.fromJSON({ code, message: message ?? code }).toJSON();
  }
  return o;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
