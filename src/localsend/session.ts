/**
 * One LocalSend upload session on the receiving side: the offer made by prepare-upload, taken
 * through the manager's session (admission gate, record, progress, history), then one HTTP upload
 * per file streamed into the inbox's partial files and committed only when complete and, when the
 * sender gave one, its SHA-256 matches. Tokens bind each upload to this session, its file and the
 * sender's address.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { P2pdError, toP2pdError } from '../errors.js';
import type { OfferSender } from '../transfer/admission.js';
import type { InboundResult, InboundSession } from '../transfer/drivers.js';
import type { InboxStore, PreparedTransfer } from '../transfer/ports.js';
import type { FileOutcome, TransferProgress } from '../transfer/progress.js';
import { newTransferId } from '../transfer/records.js';
import type { FileRequest } from './messages.js';

/** How often a file whose SHA-256 does not match may be uploaded again (as app 1.18 allows). */
const HASH_TRIES = 3;

interface Target {
  index: number;
  file: FileRequest;
  token: string;
  tries: number;
  state: 'pending' | 'uploading' | 'done' | 'failed';
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export class UploadSession {
  readonly id = randomBytes(16).toString('hex');
  readonly controller = new AbortController();
  readonly #targets = new Map<string, Target>();
  readonly #sender: OfferSender;
  readonly #inbox: InboxStore;
  readonly #idleMs: number;
  readonly #ready = deferred<Record<string, string>>();
  readonly #allDone = deferred<void>();
  readonly #outcomes: FileOutcome[] = [];
  readonly #progress: TransferProgress;
  #session: InboundSession | undefined;
  #prepared: PreparedTransfer | undefined;
  #idle: NodeJS.Timeout | undefined;

  constructor(deps: { inbox: InboxStore }, options: { address: string; sender: OfferSender; files: readonly FileRequest[]; idleTimeoutMs: number }) {
    this.address = options.address;
    this.#sender = options.sender;
    this.#inbox = deps.inbox;
    this.#idleMs = options.idleTimeoutMs;
    let bytes = 0;
    options.files.forEach((file, index) => {
      this.#targets.set(file.id, { index, file, token: randomBytes(16).toString('hex'), tries: 0, state: 'pending' });
      bytes += file.size;
    });
    this.#progress = { phase: 'waiting', filesTotal: options.files.length, filesDone: 0, filesFailed: 0, bytesTotal: bytes, bytesDone: 0 };
  }

  readonly address: string;

  /** The file tokens once the offer is accepted and the inbox ready; rejects with the refusal. */
  get ready(): Promise<Record<string, string>> {
    return this.#ready.promise;
  }

  /** Drives the session through the manager's gate and record; resolves when every file has its verdict. */
  async run(session: InboundSession): Promise<InboundResult> {
    const stop = (): void => this.#allDone.reject(session.signal.reason);
    session.signal.addEventListener('abort', stop, { once: true });
    try {
      const admission = session.greet(this.#sender);
      const targets = [...this.#targets.values()];
      const transferId = newTransferId();
      await session.offer({
        transferId,
        files: targets.length,
        bytes: this.#progress.bytesTotal,
        largestFile: targets.reduce((m, t) => Math.max(m, t.file.size), 0),
        names: targets.slice(0, 20).map((t) => t.file.fileName),
      });
      const entries = targets.map((t) => ({
        path: t.file.fileName,
        kind: 'file' as const,
        size: t.file.size,
        mode: 0o644,
        mtimeMs: t.file.modifiedMs ?? Date.now(),
      }));
      this.#prepared = await this.#inbox.prepare({ transferId, entries, sender: { id: this.#sender.id, name: admission.name } }, { signal: session.signal });
      this.#session = session;
      this.#progress.phase = 'receiving';
      session.onProgress({ ...this.#progress });
      this.#touch();
      this.#ready.resolve(Object.fromEntries(targets.map((t) => [t.file.id, t.token])));
      await this.#allDone.promise;
      return { files: [...this.#outcomes].sort((a, b) => a.index - b.index), bytes: this.#progress.bytesDone };
    } catch (err) {
      this.#ready.reject(err);
      throw err;
    } finally {
      session.signal.removeEventListener('abort', stop);
      clearTimeout(this.#idle);
      await this.#prepared?.close().catch(() => undefined);
    }
  }

  /** Whether `token` opens `fileId` of this session; compared in constant time. */
  authorize(fileId: string, token: string): 'ok' | 'unknown' | 'busy' {
    const target = this.#targets.get(fileId);
    if (target === undefined || this.#prepared === undefined) return 'unknown';
    const a = Buffer.from(target.token);
    const b = Buffer.from(token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return 'unknown';
    return target.state === 'pending' ? 'ok' : 'busy';
  }

  /** Streams one upload's body into its partial file (backpressure from the file) and commits it. */
  async upload(fileId: string, body: Readable): Promise<void> {
    const target = this.#targets.get(fileId)!;
    const prepared = this.#prepared!;
    const session = this.#session!;
    const signal = session.signal;
    target.state = 'uploading';
    target.tries++;
    const onAbort = (): void => void body.destroy(toP2pdError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    const { file: request } = target;
    const partial = await prepared.openFile(target.index, { signal });
    const hash = createHash('sha256');
    let received = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > request.size) throw new P2pdError('SIZE_MISMATCH', `${request.fileName}: more than its declared ${request.size} bytes`);
        hash.update(chunk);
        this.#progress.bytesDone += chunk.length;
        this.#touch();
        if (!partial.stream.write(chunk)) await once(partial.stream, 'drain', { signal });
        session.onProgress({ ...this.#progress, file: { index: target.index, path: request.fileName, bytes: request.size, bytesDone: received } });
      }
      if (received !== request.size) throw new P2pdError('SIZE_MISMATCH', `${request.fileName}: ${received} bytes arrived, ${request.size} were declared`);
      if (request.sha256 !== null && hash.digest('hex') !== request.sha256) {
        throw new P2pdError('HASH_MISMATCH', `${request.fileName}: the data does not match the sender's SHA-256`);
      }
      const savedAs = await partial.commit({ signal });
      this.#settle(target, { index: target.index, path: request.fileName, ok: true, bytes: request.size, savedAs });
    } catch (err) {
      await partial.discard().catch(() => undefined);
      this.#progress.bytesDone -= received;
      const e = signal.aborted ? toP2pdError(signal.reason) : toP2pdError(err, 'CONNECTION_LOST');
      if (e.code === 'HASH_MISMATCH' && target.tries < HASH_TRIES) target.state = 'pending';
      else if (!signal.aborted) this.#settle(target, { index: target.index, path: request.fileName, ok: false, error: { code: e.code, message: e.message } });
      throw e;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  #settle(target: Target, outcome: FileOutcome): void {
    target.state = outcome.ok ? 'done' : 'failed';
    this.#outcomes.push(outcome);
    if (outcome.ok) this.#progress.filesDone++;
    else this.#progress.filesFailed++;
    this.#session?.onFile(outcome);
    this.#session?.onProgress({ ...this.#progress });
    if ([...this.#targets.values()].every((t) => t.state === 'done' || t.state === 'failed')) this.#allDone.resolve();
  }

  /** A sender that stops uploading (a phone put away) must not hold the session and its slot forever. */
  #touch(): void {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      this.controller.abort(new P2pdError('TIMEOUT', `the LocalSend sender sent nothing for ${Math.round(this.#idleMs / 1000)} s`));
    }, this.#idleMs);
    this.#idle.unref();
  }
}
