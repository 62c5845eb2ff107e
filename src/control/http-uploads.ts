/**
 * Files dropped on the dashboard: each arrives as one raw `PUT` streamed (with backpressure, never
 * held whole) into a batch folder of a private staging area, then goes out through the ordinary
 * `send` method from there; the batch is deleted once the send ends. The staging area is the
 * daemon's own 0700 folder, so nothing in it can be swapped for a symlink by someone else; names
 * are still checked segment by segment and files created exclusively without following links.
 *
 *   POST   /upload            → { batch }            a new, empty batch
 *   PUT    /upload/<b>/<path> (Content-Length)       one file; folders are made on the way
 *   POST   /upload/<b>        { peer, queue? }       send the batch's top-level entries
 *   DELETE /upload/<b>                               discard the batch
 */
import { randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rm, statfs, unlink, chmod } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { P2pdError, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Caller, Dispatcher } from './dispatcher.js';
import { readJson, sendJson } from './http-util.js';
import type { SendResultView, TransferView } from './views.js';

export interface StagingLimits {
  /** Largest single upload in bytes. */
  maxFileBytes: number;
  /** Bytes that must stay free on the staging area's file system after an upload. */
  reserveBytes: number;
  /** Batches at once (each is one drop on a peer). */
  maxBatches: number;
  /** Files in one batch. */
  maxFilesPerBatch: number;
  /** A batch not touched (nor sending) for this long is deleted. */
  idleMs: number;
}

export const DEFAULT_STAGING_LIMITS: StagingLimits = {
  maxFileBytes: 1024 ** 4,
  reserveBytes: 256 * 1024 * 1024,
  maxBatches: 32,
  maxFilesPerBatch: 100_000,
  idleMs: 3_600_000,
};

interface Batch {
  id: string;
  dir: string;
  files: number;
  lastUse: number;
  sending: boolean;
}

const bad = (message: string, status = 400): P2pdError => new P2pdError('CONTROL_BAD_REQUEST', message, { details: { status } });

/** One path segment as the browser named it: refused unless it is a plain, single name. */
export function checkSegment(segment: string): string {
  if (segment === '' || segment === '.' || segment === '..' || segment.includes('/') || /[\u0000-\u001f\u007f]/.test(segment)) {
    throw bad(`unusable file name ${JSON.stringify(segment)}`);
  }
  if (Buffer.byteLength(segment, 'utf8') > 255) throw bad('a file name may be at most 255 bytes long');
  return segment;
}

export class StagingArea {
  readonly #log: Logger;
  readonly #dispatcher: Dispatcher;
  readonly #dir: string;
  readonly #limits: StagingLimits;
  readonly #signal: AbortSignal;
  readonly #batches = new Map<string, Batch>();
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: { logger: Logger; dispatcher: Dispatcher }, options: { dir: string; limits: Partial<StagingLimits>; signal: AbortSignal }) {
    this.#log = deps.logger;
    this.#dispatcher = deps.dispatcher;
    this.#dir = options.dir;
    this.#limits = { ...DEFAULT_STAGING_LIMITS, ...options.limits };
    this.#signal = options.signal;
  }

  async start(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const st = await lstat(this.#dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) {
      throw new P2pdError('CONTROL_SOCKET_INSECURE', `the dashboard's staging folder ${this.#dir} must be a directory of this user`);
    }
    await chmod(this.#dir, 0o700);
    // What a stopped daemon left behind was never sent: nobody waits for it any more.
    for (const name of await readdir(this.#dir)) await rm(join(this.#dir, name), { recursive: true, force: true });
    this.#timer = setInterval(() => void this.#expire(), 60_000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    for (const b of this.#batches.values()) await rm(b.dir, { recursive: true, force: true }).catch(() => undefined);
    this.#batches.clear();
  }

  /** `rest`: the path after "/upload". */
  async handle(req: IncomingMessage, res: ServerResponse, rest: string, caller: Caller): Promise<void> {
    const parts = rest.split('/').slice(1);
    if (parts.length === 0 && req.method === 'POST') {
      sendJson(res, 200, { batch: await this.#create() });
      return;
    }
    const batch = this.#batches.get(parts[0] ?? '');
    if (batch === undefined) throw bad('no such upload batch (it expired, was sent, or the daemon restarted)', 404);
    batch.lastUse = Date.now();
    if (parts.length === 1 && req.method === 'DELETE') {
      this.#batches.delete(batch.id);
      await rm(batch.dir, { recursive: true, force: true });
      sendJson(res, 200, { removed: true });
    } else if (parts.length === 1 && req.method === 'POST') {
      await this.#send(req, res, batch, caller);
    } else if (parts.length > 1 && req.method === 'PUT') {
      const segments = parts.slice(1).map((p) => checkSegment(safeDecode(p)));
      if (segments.length > 64) throw bad('folders may nest at most 64 deep');
      if (batch.sending) throw bad('this batch is being sent already', 409);
      if (batch.files >= this.#limits.maxFilesPerBatch) throw bad(`a batch may hold at most ${this.#limits.maxFilesPerBatch} files`, 413);
      const bytes = await this.#receive(req, batch, segments);
      sendJson(res, 200, { bytes });
    } else {
      throw bad(`no such route: ${req.method ?? '?'} /upload${rest}`, 404);
    }
  }

  async #create(): Promise<string> {
    if (this.#batches.size >= this.#limits.maxBatches) throw bad(`at most ${this.#limits.maxBatches} uploads may wait at once`, 429);
    const id = randomBytes(12).toString('hex');
    const dir = join(this.#dir, id);
    await mkdir(dir, { mode: 0o700 });
    this.#batches.set(id, { id, dir, files: 0, lastUse: Date.now(), sending: false });
    return id;
  }

  async #receive(req: IncomingMessage, batch: Batch, segments: string[]): Promise<number> {
    const lengthHeader = req.headers['content-length'];
    if (lengthHeader === undefined || !/^\d+$/.test(lengthHeader)) throw bad('an upload needs a Content-Length', 411);
    const length = Number(lengthHeader);
    if (length > this.#limits.maxFileBytes) throw bad(`a file may be at most ${this.#limits.maxFileBytes} bytes`, 413);
    const fs = await statfs(this.#dir);
    const free = Number(fs.bavail) * Number(fs.bsize);
    if (free - length < this.#limits.reserveBytes) {
      throw new P2pdError('INSUFFICIENT_SPACE', `no room to stage ${length} bytes (${free} free in ${this.#dir})`, { details: { status: 507 } });
    }
    let dir = batch.dir;
    for (const segment of segments.slice(0, -1)) {
      dir = join(dir, segment);
      await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      if (!(await lstat(dir)).isDirectory()) throw bad(`${segment} is a file and a folder at once`, 409);
    }
    const path = join(dir, segments.at(-1)!);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const handle = await open(path, flags, 0o600).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EEXIST' ? bad(`${segments.join('/')} was uploaded already`, 409) : err;
    });
    batch.files++;
    let written = 0;
    const out = createWriteStream('', { fd: handle, highWaterMark: 1024 * 1024 });
    try {
      await pipeline(
        req,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            written += chunk.length;
            yield chunk;
          }
        },
        out,
        { signal: this.#signal },
      );
      if (written !== length) throw bad(`the upload ended after ${written} of ${length} bytes`);
      return written;
    } catch (err) {
      batch.files--;
      await unlink(path).catch(() => undefined);
      throw toP2pdError(err);
    }
  }

  /**
   * Starts the send and answers with its first state (or its refusal); the send then runs on
   * without the page, which follows it through `watch`. The batch goes when the send ends.
   */
  async #send(req: IncomingMessage, res: ServerResponse, batch: Batch, caller: Caller): Promise<void> {
    const body = await readJson(req, 64 * 1024);
    if (batch.sending) throw bad('this batch is being sent already', 409);
    const entries = await readdir(batch.dir);
    if (entries.length === 0) throw bad('nothing was uploaded to this batch');
    batch.sending = true;
    let answered = false;
    const answer = (transfer: TransferView): void => {
      if (answered) return;
      answered = true;
      sendJson(res, 200, { result: { transfer, skipped: [] } });
    };
    const call = this.#dispatcher.call({
      method: 'send',
      params: { ...body, paths: entries.map((e) => join(batch.dir, e)), detach: false },
      signal: this.#signal,
      emit: (event, data) => {
        if (event === 'progress') answer(data as TransferView);
      },
      caller,
    });
    void call
      .then(
        (r) => {
          if (!answered) {
            answered = true;
            sendJson(res, 200, { result: r as SendResultView });
          }
        },
        (err: unknown) => {
          if (answered) return;
          answered = true;
          const e = toP2pdError(err);
          sendJson(res, e.code === 'CONTROL_UNAUTHORIZED' ? 401 : e.code === 'CONTROL_BAD_REQUEST' ? 400 : 422, {
            error: { code: e.code, message: e.message },
          });
        },
      )
      .finally(() => {
        this.#batches.delete(batch.id);
        rm(batch.dir, { recursive: true, force: true }).catch((err: unknown) => this.#log.warn({ err }, 'cannot remove a staged upload'));
      });
  }

  async #expire(): Promise<void> {
    const now = Date.now();
    for (const b of [...this.#batches.values()]) {
      if (b.sending || now - b.lastUse < this.#limits.idleMs) continue;
      this.#batches.delete(b.id);
      await rm(b.dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad('a file name is not valid percent-encoding');
  }
}
