/**
 * A worker thread that runs only while it has work: it starts on the first request and ends after
 * a quiet spell, so an idle daemon carries no thread and its memory. Requests go out with an id
 * and are answered in any order; `serveRequests` is the thread's side.
 */
import { parentPort, Worker } from 'node:worker_threads';
import { P2pdError } from './errors.js';

const IDLE_MS = 15_000;

interface Envelope<T> {
  id: number;
  body: T;
}

export interface OnDemandWorkerOptions {
  /** What the thread is, for errors ("the hashing thread"). */
  what: string;
  /** How long the thread lives on with nothing to do, ms (default 15 s). */
  idleMs?: number;
  /** What each thread starts with (its `workerData`), asked for when one starts. */
  workerData?: () => unknown;
}

export class OnDemandWorker<Request, Reply> {
  readonly #url: URL;
  readonly #what: string;
  readonly #idleMs: number;
  readonly #workerData: (() => unknown) | undefined;
  #worker: Worker | undefined;
  readonly #waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #idleTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(url: URL, options: OnDemandWorkerOptions) {
    this.#url = url;
    this.#what = options.what;
    this.#idleMs = options.idleMs ?? IDLE_MS;
    this.#workerData = options.workerData;
  }

  /** Whether a thread is running now (tests: it comes and goes by itself). */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** `transfer`: buffers handed to the thread (they are unusable here afterwards). */
  request(body: Request, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.#stopped) return Promise.reject(new P2pdError('TRANSFER_CANCELLED', 'the daemon is shutting down'));
    const worker = this.#ensure();
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const id = this.#nextId++;
    const envelope: Envelope<Request> = { id, body };
    return new Promise<Reply>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage(envelope, transfer);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#end(new P2pdError('TRANSFER_CANCELLED', 'the daemon is shutting down'));
  }

  #ensure(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    // None of the daemon's own Node flags: some (an --input-type, a profiler's) do not suit a worker.
    const worker = new Worker(this.#url, { execArgv: [], workerData: this.#workerData?.() });
    // A thread at work must never keep the daemon's process alive.
    worker.unref();
    worker.on('message', (reply: Envelope<Reply>) => this.#reply(reply));
    worker.on('error', (err) => void this.#end(new P2pdError('INTERNAL', `${this.#what} failed: ${err.message}`, { cause: err })));
    worker.on('exit', () => {
      if (this.#worker === worker) void this.#end(new P2pdError('INTERNAL', `${this.#what} ended`));
    });
    this.#worker = worker;
    return worker;
  }

  #reply(reply: Envelope<Reply>): void {
    const waiting = this.#waiting.get(reply.id);
    if (waiting === undefined) return;
    this.#waiting.delete(reply.id);
    waiting.resolve(reply.body);
    if (this.#waiting.size === 0 && this.#idleTimer === undefined) {
      this.#idleTimer = setTimeout(() => void this.#end(), this.#idleMs);
      this.#idleTimer.unref();
    }
  }

  /** Ends the thread; requests still waiting fail with `reason`. */
  async #end(reason?: Error): Promise<void> {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const worker = this.#worker;
    this.#worker = undefined;
    for (const w of this.#waiting.values()) w.reject(reason ?? new P2pdError('INTERNAL', `${this.#what} ended`));
    this.#waiting.clear();
    if (worker !== undefined) await worker.terminate();
  }
}

/**
 * The thread's side: answers each request with `handle`'s reply, in the order they come.
 * `transfer` says which of a reply's buffers are handed back rather than copied.
 */
export function serveRequests<Request, Reply>(handle: (body: Request) => Reply, transfer: (reply: Reply) => ArrayBuffer[] = () => []): void {
  const port = parentPort;
  if (port === null) return;
  port.on('message', ({ id, body }: Envelope<Request>) => {
    const reply = handle(body);
    const envelope: Envelope<Reply> = { id, body: reply };
    port.postMessage(envelope, transfer(reply));
  });
}
