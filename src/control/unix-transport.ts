/**
 * The control socket: newline-delimited JSON over a Unix socket, one transport of the
 * dispatcher. The socket's directory must be ours and closed to others (0700) and the socket
 * itself is made 0600: file permissions are what keep other users of the machine out, so a
 * directory we cannot make private is refused rather than used.
 *
 * A client of the socket can still be broken or runaway, so what it may hold is bounded
 * (docs/CONTROL.md, "Limits"): connections, bytes of unfinished lines (each and in all),
 * requests in flight, and responses it does not read (the socket stops reading from it).
 */
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { P2pdError, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import { LineSplitter, MAX_LINE_BYTES, type ControlRequest, type ControlResponse } from './api.js';
import type { Dispatcher } from './dispatcher.js';

export interface UnixTransportLimits {
  /** Connections at once; at the limit, the oldest idle or stalled one makes room, else the new one is refused. */
  maxConnections: number;
  /** Longest line (a request) in bytes. */
  maxLineBytes: number;
  /** Bytes of unfinished lines over all connections; the connection that goes over is dropped. */
  maxBufferedBytes: number;
  /** Requests of one connection being handled at once; further lines wait (and reading stops). */
  maxInFlight: number;
  /** Unread bytes queued to one connection beyond which its streamed events drop the connection. */
  maxQueuedBytes: number;
}

export const DEFAULT_UNIX_LIMITS: UnixTransportLimits = {
  maxConnections: 64,
  maxLineBytes: MAX_LINE_BYTES,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxInFlight: 16,
  maxQueuedBytes: 4 * 1024 * 1024,
};

const HANGUP = (): P2pdError => new P2pdError('TRANSFER_CANCELLED', 'the client hung up');

/** One client connection and what it holds. */
class Connection {
  readonly socket: Socket;
  readonly splitter: LineSplitter;
  readonly hangup = new AbortController();
  readonly lines: string[] = [];
  inFlight = 0;
  /** What of the unfinished line is counted in the transport's total. */
  counted = 0;
  /** When the last complete request arrived (or the connection opened). */
  lastActivity = Date.now();

  constructor(socket: Socket, maxLineBytes: number) {
    this.socket = socket;
    this.splitter = new LineSplitter(maxLineBytes);
  }

  /** Not reading what it asked for: its responses pile up in the socket's queue. */
  get stalled(): boolean {
    return this.socket.writableLength >= this.socket.writableHighWaterMark;
  }

  /** A connection that holds nothing a person waits for may be dropped to make room. */
  get evictable(): boolean {
    return this.inFlight === 0 || this.stalled;
  }
}

export class UnixSocketTransport {
  readonly #log: Logger;
  readonly #dispatcher: Dispatcher;
  readonly #path: string;
  readonly #limits: UnixTransportLimits;
  #server: Server | undefined;
  readonly #clients = new Set<Connection>();
  /** Bytes of unfinished lines over all connections. */
  #buffered = 0;

  constructor(deps: { logger: Logger; dispatcher: Dispatcher }, options: { path: string; limits?: Partial<UnixTransportLimits> }) {
    this.#log = deps.logger;
    this.#dispatcher = deps.dispatcher;
    this.#path = options.path;
    this.#limits = { ...DEFAULT_UNIX_LIMITS, ...options.limits };
  }

  get path(): string {
    return this.#path;
  }

  /** Open connections, and bytes of unfinished lines they hold (for tests and diagnostics). */
  get load(): { connections: number; bufferedBytes: number } {
    return { connections: this.#clients.size, bufferedBytes: this.#buffered };
  }

  async start(_options: { signal?: AbortSignal } = {}): Promise<void> {
    await ensurePrivateDir(dirname(this.#path));
    await removeStaleSocket(this.#path);
    const server = createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EADDRINUSE'
            ? new P2pdError('DAEMON_ALREADY_RUNNING', `another daemon serves ${this.#path}`)
            : toP2pdError(err, 'CONTROL_SOCKET_INSECURE'),
        );
      });
      server.listen(this.#path, () => resolve());
    });
    await chmod(this.#path, 0o600);
    server.on('error', (err) => this.#log.error({ err }, 'control socket error'));
    this.#server = server;
    this.#log.debug({ path: this.#path }, 'control socket listening');
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    for (const c of this.#clients) c.socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.#path).catch(() => undefined);
  }

  #accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.#clients.size >= this.#limits.maxConnections && !this.#evictOne()) {
      this.#log.warn({ limit: this.#limits.maxConnections }, 'control socket: too many connections; refusing one');
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this.#limits.maxLineBytes);
    this.#clients.add(conn);
    socket.on('close', () => {
      this.#clients.delete(conn);
      this.#buffered -= conn.counted;
      conn.counted = 0;
      conn.hangup.abort(HANGUP());
    });
    socket.on('drain', () => this.#flow(conn));
    socket.on('data', (chunk: Buffer) => this.#read(conn, chunk));
  }

  /** Drops the connection idle or stalled the longest; false when every one is busy. */
  #evictOne(): boolean {
    let victim: Connection | undefined;
    for (const c of this.#clients) {
      if (c.evictable && (victim === undefined || c.lastActivity < victim.lastActivity)) victim = c;
    }
    if (victim === undefined) return false;
    this.#log.debug('control socket: dropping an idle connection to make room');
    victim.socket.destroy();
    this.#clients.delete(victim);
    return true;
  }

  #read(conn: Connection, chunk: Buffer): void {
    let lines: string[];
    try {
      lines = conn.splitter.push(chunk);
    } catch {
      this.#drop(conn, 'a control request line is too long');
      return;
    }
    this.#buffered += conn.splitter.buffered - conn.counted;
    conn.counted = conn.splitter.buffered;
    if (this.#buffered > this.#limits.maxBufferedBytes && conn.splitter.buffered > 0) {
      this.#drop(conn, 'unfinished control requests hold too much memory');
      return;
    }
    for (const line of lines) {
      if (line.trim() !== '') conn.lines.push(line);
    }
    if (lines.length > 0) conn.lastActivity = Date.now();
    this.#flow(conn);
  }

  #drop(conn: Connection, why: string): void {
    this.#log.debug({ why }, 'control socket: dropping a connection');
    // 'close' takes what it held off the total.
    conn.socket.destroy();
  }

  /** Starts what may start, and reads on only while the client keeps up. */
  #flow(conn: Connection): void {
    // A stalled client gets no more answers queued: lines already read wait with the rest.
    while (conn.lines.length > 0 && conn.inFlight < this.#limits.maxInFlight && !conn.stalled && !conn.socket.destroyed) {
      void this.#handle(conn, conn.lines.shift()!);
    }
    const hold = conn.lines.length > 0 || conn.inFlight >= this.#limits.maxInFlight || conn.stalled;
    if (hold && !conn.socket.isPaused()) conn.socket.pause();
    else if (!hold && conn.socket.isPaused()) conn.socket.resume();
  }

  #send(conn: Connection, msg: ControlResponse, droppable: boolean): void {
    const socket = conn.socket;
    if (socket.destroyed) return;
    if (droppable && socket.writableLength > this.#limits.maxQueuedBytes) {
      // A client that does not read its events is dropped rather than buffered for: `watch`
      // resumes from its last seq, `send` without --detach cancels as on a hang-up.
      this.#drop(conn, 'the client does not read its events');
      return;
    }
    socket.write(`${JSON.stringify(msg)}\n`);
  }

  async #handle(conn: Connection, line: string): Promise<void> {
    let req: ControlRequest;
    try {
      req = parseRequest(line);
    } catch (err) {
      this.#send(conn, { id: 0, error: toP2pdError(err, 'CONTROL_BAD_REQUEST').toJSON() }, false);
      return;
    }
    conn.inFlight++;
    try {
      const result = await this.#dispatcher.call({
        method: req.method,
        params: req.params ?? {},
        signal: conn.hangup.signal,
        emit: (event, data) => this.#send(conn, { id: req.id, event, data }, true),
        caller: { transport: 'unix' },
      });
      this.#send(conn, { id: req.id, result }, false);
    } catch (err) {
      this.#send(conn, { id: req.id, error: toP2pdError(err).toJSON() }, false);
    } finally {
      conn.inFlight--;
      this.#flow(conn);
    }
  }
}

function parseRequest(line: string): ControlRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new P2pdError('CONTROL_BAD_REQUEST', 'a control request is not valid JSON');
  }
  const r = v as Partial<ControlRequest>;
  if (typeof v !== 'object' || v === null || typeof r.method !== 'string' || !Number.isSafeInteger(r.id)) {
    throw new P2pdError('CONTROL_BAD_REQUEST', 'a control request needs a numeric "id" and a "method"');
  }
  if (r.params !== undefined && (typeof r.params !== 'object' || r.params === null || Array.isArray(r.params))) {
    throw new P2pdError('CONTROL_BAD_REQUEST', '"params" must be an object');
  }
  return r as ControlRequest;
}

async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new P2pdError(
      'CONTROL_SOCKET_INSECURE',
      `the control socket's directory ${dir} must be a directory owned by this user with mode 0700 (it is ${(st.mode & 0o777).toString(8)}): run \`chmod 700 ${dir}\` or set controlSocket elsewhere`,
      { details: { dir, mode: st.mode & 0o777 } },
    );
  }
}

/** A socket file left by a killed daemon is removed; one that answers belongs to a live daemon. */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new P2pdError('CONTROL_SOCKET_INSECURE', `${path} exists and is not a socket; move it away or set controlSocket elsewhere`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new P2pdError('DAEMON_ALREADY_RUNNING', `a p2pd daemon already runs on ${path}`, { details: { path } });
  await unlink(path);
}
