/**
 * The receiving side of one transfer over any Duplex. Every byte from the peer is checked before
 * it is trusted: the offer against limits and the store's name rules, each file's size and hash
 * before it is moved into place. Verdicts go back per file without stopping the data.
 */
import { fileHash, type FileHash } from './block-hash.js';
import type { Duplex } from 'node:stream';
import { faultSide, isRefusal, isRetryable, P2pdError, toP2pdError, type ErrorCode } from '../errors.js';
import type { DecodedEvent, OfferEntry } from '../protocol/messages.js';
import { abortReason, closeWithError, FrameWriter, isFromPeer, nextMessage, readEvents, waitDrain } from './frame-io.js';
import { exchangeHello } from './handshake.js';
import { planResume, type ResumePlan } from './resume-plan.js';
import { startHeartbeat } from './heartbeat.js';
import type { OfferLimits } from './admission.js';
import type { AcceptChoices, InboxStore, OfferReview, PartialFile, PreparedTransfer, SessionOptions } from './ports.js';
import type { PairingIo } from './pairing.js';
import { atMostEvery, PROGRESS_INTERVAL_MS, type FileOutcome, type TransferProgress } from './progress.js';

export type ReceiveLimits = OfferLimits;

export interface IncomingOffer {
  transferId: string;
  peerName: string;
  entries: readonly OfferEntry[];
  totalBytes: number;
  filesTotal: number;
  /** The store's verdict on the names (cleaned, refused one by one), when the store gives one. */
  review?: OfferReview;
}

export interface ReceiverOptions extends SessionOptions {
  peerId: string;
  limits: ReceiveLimits;
  /**
   * A pairing request (PAIR_COMMIT instead of OFFER): runs the responder side to its end. Without
   * it, pairing requests are refused.
   */
  pairing?: (request: { peerName: string; commit: string; io: PairingIo }) => Promise<void>;
  /** After the peer's HELLO: throw a P2pdError (e.g. PEER_NOT_TRUSTED) to refuse the peer. */
  authorize: (hello: { name: string }) => void | Promise<void>;
  /**
   * The offer as received and checked, before the answer goes out; throw to refuse it. May return
   * a person's choices (where it lands, renames, files to skip), which go to the store. `signal`
   * aborts when the sender gives up meanwhile (ERROR, or its connection ends).
   */
  onOffer?: (offer: IncomingOffer, options: { signal: AbortSignal }) => void | AcceptChoices | Promise<void | AcceptChoices>;
  onProgress?: (p: TransferProgress) => void;
  onFile?: (outcome: FileOutcome) => void;
  /** Keep what arrived of a file when the disk fills up (for a resume once there is room); default true. */
  keepPartialOnDiskFull?: boolean;
  /** The name to file the sender under (the trusted name, not what its HELLO claims). */
  nameOf?: (helloName: string) => string;
  /** Bytes the sender will not send again because they were kept from an earlier attempt. */
  onResume?: (bytes: number) => void;
}

export interface ReceiveResult {
  ok: boolean;
  /** The connection carried a pairing, not a transfer. */
  paired?: boolean;
  transferId: string;
  files: FileOutcome[];
  bytes: number;
}

/** The whole offer is held in memory until checked: 64 Mi characters is a million 64-character paths. */
export const MAX_MANIFEST_CHARS = 64 * 1024 * 1024;

/**
 * How many verified files may be in the middle of fsync-and-rename while the next ones stream in.
 * Many in flight let the file system fold their fsyncs into few journal commits, and the
 * directory fsyncs of one folder into one; the byte bound keeps the data still buffered for them
 * small.
 */
const MAX_PENDING_COMMITS = 32;
const MAX_PENDING_COMMIT_BYTES = 32 * 1024 * 1024;

export async function runReceiver(deps: { socket: Duplex; store: InboxStore }, options: ReceiverOptions): Promise<ReceiveResult> {
  const { socket, store } = deps;
  const { signal, limits } = options;
  const writer = new FrameWriter(socket);
  // Until its offer is in, a sender that sends only PINGs is making no progress.
  const heartbeat = startHeartbeat({ socket, writer, idleTimeoutMs: options.idleTimeoutMs, heartbeatsCount: false });
  const events = readEvents(socket, (chunk) => heartbeat.touch(chunk))[Symbol.asyncIterator]();
  const progress: TransferProgress = { phase: 'connecting', filesTotal: 0, filesDone: 0, filesFailed: 0, bytesTotal: 0, bytesDone: 0 };
  const fileNow = (c: NonNullable<typeof current>) => ({ index: c.index, path: c.entry.path, bytes: c.entry.size, bytesDone: c.received });
  const report = (): void => options.onProgress?.({ ...progress, ...(current === undefined ? {} : { file: fileNow(current) }) });
  const reportData = atMostEvery(PROGRESS_INTERVAL_MS, report);
  const outcomes: FileOutcome[] = [];
  /** Files refused by name before the answer: outcomes of their own, never sent. */
  const refusedFiles: FileOutcome[] = [];
  let prepared: PreparedTransfer | undefined;
  let current: { index: number; entry: OfferEntry; file: PartialFile; hash: FileHash; received: number } | undefined;
  /** A failure that proves the kept data wrong (size, hash) must not leave it for a resume. */
  let keepPartial = true;
  /** Set when a file's commit found the disk full: the whole transfer then ends with DISK_FULL. */
  const stopped: { diskFull?: P2pdError } = {};
  const throwIfDiskFull = (): void => {
    if (stopped.diskFull !== undefined) throw stopped.diskFull;
  };
  let transferId = '';
  /** Commits in index order; each settles to its outcome. */
  const pending: Promise<FileOutcome>[] = [];
  /** Commits not settled yet, their bytes, and the oldest one that may still be running. */
  const inFlight = { files: 0, bytes: 0, oldest: 0 };
  let resultsChain: Promise<void> = Promise.resolve();

  const onAbort = (): void => closeWithError(socket, writer, abortReason(signal));
  signal.addEventListener('abort', onAbort, { once: true });
  const handshakeTimer = setTimeout(() => {
    const reason = new P2pdError('TIMEOUT', `the sender did not complete the p2pd handshake within ${options.handshakeTimeoutMs} ms`);
    // Tell the peer why (ERROR TIMEOUT) before dropping it, but never wait on a peer that does not read.
    writer.send({ type: 'error', code: reason.code, message: reason.message });
    socket.end(() => socket.destroy(reason));
    setTimeout(() => socket.destroy(reason), 500).unref();
  }, options.handshakeTimeoutMs);

  /** A message read while the offer waited for its answer, handed to the next `next()`. */
  let ahead: Promise<DecodedEvent> | undefined;
  /** The next event that is not a heartbeat; the end of the stream is a lost connection. */
  const next = (): Promise<DecodedEvent> => {
    const read = ahead ?? nextMessage(events, writer, 'the sender closed the connection before the transfer finished');
    ahead = undefined;
    return read;
  };

  try {
    const hello = await exchangeHello(
      { writer, next },
      { name: options.localName, software: options.software, features: options.pairing === undefined ? ['resume'] : ['resume', 'pairing'] },
      'sender',
    );
    // The handshake lasts until the peer says what it wants (OFFER or PAIR_COMMIT): before that
    // it is not authorised, and PINGs alone must not keep a stranger connected.
    let first: DecodedEvent | undefined = await next();
    clearTimeout(handshakeTimer);
    if (first.type === 'pair-commit') {
      if (options.pairing === undefined) throw new P2pdError('PROTOCOL_UNEXPECTED', 'this daemon does not pair');
      // A pairing waits for people on both sides; its own deadlines bound it.
      heartbeat.heartbeatsCount(true);
      await options.pairing({ peerName: hello.name, commit: first.commit, io: { send: (m) => void writer.send(m), next } });
      socket.end();
      return { ok: true, transferId: '', files: [], bytes: 0, paired: true };
    }
    await options.authorize({ name: hello.name });

    // The offer, possibly over several frames, checked against the limits as it grows.
    const entries: OfferEntry[] = [];
    let totalFiles = -1;
    let totalBytes = -1;
    let manifestChars = 0;
    for (;;) {
      const offer = first ?? (await next());
      first = undefined;
      if (offer.type !== 'offer') throw new P2pdError('PROTOCOL_UNEXPECTED', `expected OFFER, got ${offer.type}`);
      if (totalFiles === -1) {
        totalFiles = offer.totalFiles;
        totalBytes = offer.totalBytes;
        transferId = offer.transferId;
        checkOfferLimits(totalFiles, totalBytes, limits);
      } else if (offer.totalFiles !== totalFiles || offer.totalBytes !== totalBytes || offer.transferId !== transferId) {
        throw new P2pdError('OFFER_INVALID', 'the parts of the offer disagree about its totals');
      }
      entries.push(...offer.entries);
      if (entries.length > totalFiles) throw new P2pdError('OFFER_INVALID', 'the offer has more entries than it announced');
      for (const e of offer.entries) manifestChars += e.path.length;
      if (manifestChars > MAX_MANIFEST_CHARS) {
        throw new P2pdError('OFFER_TOO_LARGE', `the offer's file names add up to more than ${MAX_MANIFEST_CHARS} characters`);
      }
      if (!offer.more) break;
    }
    refuseUnless(entries.length === totalFiles, 'OFFER_INVALID', 'the offer has fewer entries than it announced');
    let sum = 0;
    // Plain loops, no per-entry arrays: an offer may hold a million entries.
    const fileIndexes: number[] = [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.kind === 'file') fileIndexes.push(i);
      if (e.kind === 'dir' && e.size !== 0) throw new P2pdError('OFFER_INVALID', 'a directory entry with a size');
      if (limits.maxFileSize > 0 && e.size > limits.maxFileSize) {
        throw new P2pdError('OFFER_TOO_LARGE', `a file of ${e.size} bytes is over this receiver's limit of ${limits.maxFileSize}`);
      }
      sum += e.size;
    }
    refuseUnless(sum === totalBytes, 'OFFER_INVALID', 'the sizes in the offer do not add up to its total');
    // Names are decided before anyone is asked: cleaned where they can be, refused one by one
    // where they cannot (a whole refusal only when nothing would be left).
    const review = store.review?.(entries);
    const skips = new Map<number, ErrorCode>();
    for (const r of review?.refused ?? []) {
      skips.set(r.index, r.code);
      if (entries[r.index]!.kind === 'file')
        refusedFiles.push({ index: r.index, path: entries[r.index]!.path, ok: false, error: { code: r.code, message: r.message } });
    }
    progress.filesTotal = review?.files ?? fileIndexes.length;
    progress.bytesTotal = review?.bytes ?? totalBytes;
    progress.phase = 'waiting';

    const choices =
      (await waitForAnswer({
        transferId,
        peerName: hello.name,
        entries,
        totalBytes,
        filesTotal: progress.filesTotal,
        ...(review === undefined ? {} : { review }),
      })) ?? undefined;
    const sender = { id: options.peerId, name: options.nameOf?.(hello.name) ?? hello.name };
    prepared = await store.prepare({ transferId, entries, sender, ...(choices === undefined ? {} : { choices }) }, { signal });
    for (const f of choices?.files ?? []) {
      if (f.skip === true && !skips.has(f.index)) {
        skips.set(f.index, 'PEER_REFUSED');
        progress.filesTotal--;
        progress.bytesTotal -= entries[f.index]!.size;
      }
    }
    if (skips.size > 0) fileIndexes.splice(0, fileIndexes.length, ...fileIndexes.filter((i) => !skips.has(i)));
    // Resume: files the sender identifies (fileId) whose data an earlier attempt kept continue at
    // the last complete block; the journal gives those blocks' digests without reading them.
    // Both HELLOs list "resume": files are hashed as hash lists, whether or not this store keeps
    // data for a resume.
    const hashList = hello.features.includes('resume');
    const resumeOn = hashList && prepared.resumeState !== undefined;
    const resumable = resumeOn ? await planResume(prepared, entries, fileIndexes, options.peerId) : new Map<number, ResumePlan>();
    const offsets = [...resumable].filter(([, r]) => r.offset > 0).map(([index, r]) => ({ index, offset: r.offset }));
    const answerFiles = [...offsets, ...[...skips].map(([index, skip]) => ({ index, skip }))].sort((a, b) => a.index - b.index);
    writer.send(answerFiles.length > 0 ? { type: 'answer', accept: true, files: answerFiles } : { type: 'answer', accept: true });
    const resumedBytes = offsets.reduce((n, o) => n + o.offset, 0);
    if (resumedBytes > 0) options.onResume?.(resumedBytes);
    progress.phase = 'receiving';
    report();

    let expected = 0; // position in fileIndexes of the next file the sender must send
    for (;;) {
      const e = await next();
      throwIfDiskFull();
      if (e.type === 'data') {
        if (current === undefined) throw new P2pdError('PROTOCOL_UNEXPECTED', 'DATA outside a file');
        current.received += e.chunk.length;
        if (current.received > current.entry.size) {
          throw new P2pdError('SIZE_MISMATCH', `${current.entry.path}: more data than its declared ${current.entry.size} bytes`);
        }
        await current.hash.update(e.chunk);
        progress.bytesDone += e.chunk.length;
        const stream = current.file.stream;
        if (stream.errored !== null) throw toP2pdError(stream.errored, 'INBOX_UNWRITABLE');
        if (!stream.write(e.chunk)) await waitDrain(stream, signal);
        reportData();
      } else if (e.type === 'file-begin') {
        if (current !== undefined) throw new P2pdError('PROTOCOL_UNEXPECTED', 'FILE_BEGIN inside a file');
        if (e.index !== fileIndexes[expected]) {
          throw new P2pdError('PROTOCOL_UNEXPECTED', `FILE_BEGIN for entry ${e.index}; entry ${fileIndexes[expected] ?? 'none'} was due`);
        }
        const plan = resumable.get(e.index);
        // The sender may start afresh (offset 0) but may not pick an offset of its own.
        if (e.offset !== 0 && e.offset !== plan?.offset) throw new P2pdError('PROTOCOL_UNEXPECTED', 'a resume offset that was not agreed');
        expected++;
        const file = await prepared.openFile(e.index, plan === undefined ? { signal } : { signal, resumeKey: plan.key, offset: e.offset });
        const [prefix, bytes, worker] = [e.offset > 0 ? plan!.prefix : [], entries[e.index]!.size - e.offset, options.hashWorker];
        const hash = fileHash(hashList, { prefix, onBlock: (d) => file.journal?.(d), worker, bytes });
        progress.bytesDone += e.offset;
        current = { index: e.index, entry: entries[e.index]!, file, hash, received: e.offset };
      } else if (e.type === 'file-end') {
        if (current === undefined || e.index !== current.index) throw new P2pdError('PROTOCOL_UNEXPECTED', 'FILE_END without its FILE_BEGIN');
        const done = current;
        current = undefined;
        await queueCommit(done, e.sha256);
      } else if (e.type === 'done') {
        if (current !== undefined || expected !== fileIndexes.length) {
          throw new P2pdError('PROTOCOL_UNEXPECTED', 'DONE before every file was sent');
        }
        break;
      } else {
        throw new P2pdError('PROTOCOL_UNEXPECTED', `the sender sent ${e.type} during the data phase`);
      }
    }
    await Promise.all(pending);
    await resultsChain;
    throwIfDiskFull();
    const files = refusedFiles.length === 0 ? outcomes : [...refusedFiles, ...outcomes].sort((a, b) => a.index - b.index);
    const ok = files.every((o) => o.ok);
    writer.send({ type: 'summary', ok, files: outcomes.filter((o) => o.ok).length, bytes: progress.bytesDone });
    progress.phase = 'done';
    report();
    socket.end();
    return { ok, transferId, files, bytes: progress.bytesDone };
  } catch (err) {
    let e = signal.aborted ? toP2pdError(signal.reason ?? err) : toP2pdError(err, 'CONNECTION_LOST');
    // Data the peer proved wrong (size, hash, protocol) is not kept; a cut connection (even in the
    // middle of a frame) or a timeout may heal, and what arrived before it is good.
    if (faultSide(e.code) === 'peer' && !isRetryable(e.code)) {
      keepPartial = false;
    }
    if (e.code === 'DISK_FULL') {
      keepPartial = options.keepPartialOnDiskFull !== false;
      e = new P2pdError('DISK_FULL', `${options.localName}'s inbox is full: its disk has no space left for ${current?.entry.path ?? 'the data'}`, { cause: e });
    }
    if (!socket.destroyed && !signal.aborted && !isFromPeer(e)) {
      if (prepared === undefined && e.code !== 'CONNECTION_LOST' && transferId !== '' && isRefusal(e.code)) {
        writer.send({ type: 'answer', accept: false, code: e.code, message: e.message });
      } else {
        writer.send({ type: 'error', code: e.code, message: e.message });
      }
      socket.end();
    }
    setTimeout(() => socket.destroy(), 1000).unref();
    throw e;
  } finally {
    clearTimeout(handshakeTimer);
    heartbeat.stop();
    signal.removeEventListener('abort', onAbort);
    if (current !== undefined) {
      const file = current.file;
      await (keepPartial && file.keep !== undefined ? file.keep() : file.discard()).catch(() => undefined);
    }
    // Files already verified finish moving into place: nothing accepted is lost.
    await Promise.allSettled(pending);
    await resultsChain.catch(() => undefined);
    await prepared?.close().catch(() => undefined);
  }

  /**
   * Hands the offer to `onOffer`, which may wait for a person, and meanwhile keeps reading the
   * connection: a sender that cancels (ERROR) or goes away withdraws its offer at once, instead of
   * leaving it to be accepted for nothing. PINGs prove the sender alive while it waits.
   */
  async function waitForAnswer(offer: IncomingOffer): Promise<void | AcceptChoices> {
    if (options.onOffer === undefined) return undefined;
    heartbeat.heartbeatsCount(true);
    const gone = new AbortController();
    const read = nextMessage(events, writer, 'the sender closed the connection while its offer waited for an answer');
    read.then(
      () => undefined,
      (err: unknown) => gone.abort(toP2pdError(err, 'CONNECTION_LOST')),
    );
    ahead = read;
    return options.onOffer(offer, { signal: gone.signal });
  }

  async function queueCommit(done: NonNullable<typeof current>, sha256: string): Promise<void> {
    const { index, entry, file } = done;
    const result: Promise<FileOutcome> = (async () => {
      try {
        if (done.received !== entry.size) {
          throw new P2pdError('SIZE_MISMATCH', `${entry.path}: ${done.received} bytes arrived, ${entry.size} were declared`);
        }
        if ((await done.hash.final()) !== sha256) {
          throw new P2pdError('HASH_MISMATCH', `${entry.path}: the data does not match the sender's SHA-256`);
        }
        const savedAs = await file.commit({ signal });
        return { index, path: entry.path, ok: true, savedAs };
      } catch (err) {
        const e = toP2pdError(err, 'INBOX_UNWRITABLE');
        // A full disk is not this file's fault: the transfer stops with DISK_FULL, and what reached
        // the disk is kept for a resume when onDiskFull says so.
        if (e.code === 'DISK_FULL') stopped.diskFull ??= e;
        const keep = e.code === 'DISK_FULL' && options.keepPartialOnDiskFull !== false && file.keep !== undefined;
        await (keep ? file.keep!() : file.discard()).catch(() => undefined);
        return { index, path: entry.path, ok: false, error: { code: e.code, message: e.message } };
      }
    })();
    pending.push(result);
    inFlight.files++;
    inFlight.bytes += entry.size;
    void result.then(() => {
      inFlight.files--;
      inFlight.bytes -= entry.size;
    });
    resultsChain = resultsChain.then(async () => {
      const o = await result;
      outcomes.push(o);
      if (o.ok) progress.filesDone++;
      else progress.filesFailed++;
      options.onFile?.(o);
      writer.send(
        o.ok
          ? { type: 'file-result', index: o.index, ok: true }
          : { type: 'file-result', index: o.index, ok: false, code: o.error!.code, message: o.error!.message },
      );
      report();
    });
    // A sliding window: wait for the oldest commits, not for all of them.
    while (inFlight.files >= MAX_PENDING_COMMITS || inFlight.bytes > MAX_PENDING_COMMIT_BYTES) await pending[inFlight.oldest++];
  }
}

function checkOfferLimits(totalFiles: number, totalBytes: number, limits: ReceiveLimits): void {
  if (totalFiles > limits.maxOfferFiles) {
    throw new P2pdError('OFFER_TOO_LARGE', `the offer has ${totalFiles} entries; this receiver takes at most ${limits.maxOfferFiles}`);
  }
  if (limits.maxOfferBytes > 0 && totalBytes > limits.maxOfferBytes) {
    throw new P2pdError('OFFER_TOO_LARGE', `the offer is ${totalBytes} bytes; this receiver takes at most ${limits.maxOfferBytes}`);
  }
}

function refuseUnless(cond: boolean, code: 'OFFER_INVALID', message: string): void {
  if (!cond) throw new P2pdError(code, message);
}
