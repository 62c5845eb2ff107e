/**
 * The daemon's end of the control socket. The socket's directory must be ours and closed to
 * others (0700) and the socket itself is made 0600: file permissions are what keep other users
 * of the machine out, so a directory we cannot make private is refused rather than used.
 */
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { P2pdError, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import { LineSplitter, type ControlRequest, type ControlResponse } from './api.js';

export interface HandlerContext {
  /** Aborted when the client hangs up. */
  signal: AbortSignal;
  emit(event: string, data: unknown): void;
}

export type Handler = (params: Record<string, unknown>, ctx: HandlerContext) => Promise<unknown>;
export type Handlers = Record<string, Handler>;

export class ControlServer {
  readonly #log: Logger;
  readonly #handlers: Handlers;
  readonly #path: string;
  #server: Server | undefined;
  readonly #clients = new Set<Socket>();

  constructor(deps: { logger: Logger; handlers: Handlers }, options: { path: string }) {
    this.#log = deps.logger;
    this.#handlers = deps.handlers;
    this.#path = options.path;
  }

  async start(_options: { signal?: AbortSignal } = {}): Promise<void> {
    await ensurePrivateDir(dirname(this.#path));
    await removeStaleSocket(this.#path);
    const server = createServer((socket) => this.#serve(socket));
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
    for (const c of this.#clients) c.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.#path).catch(() => undefined);
  }

  #serve(socket: Socket): void {
    this.#clients.add(socket);
    const hangup = new AbortController();
    const splitter = new LineSplitter();
    const send = (msg: ControlResponse): void => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(msg)}\n`);
    };
    socket.on('close', () => {
      this.#clients.delete(socket);
      hangup.abort(new P2pdError('TRANSFER_CANCELLED', 'the client hung up'));
    });
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const line of lines) {
        if (line.trim() === '') continue;
        void this.#dispatch(line, hangup.signal, send);
      }
    });
  }

  async #dispatch(line: string, signal: AbortSignal, send: (m: ControlResponse) => void): Promise<void> {
    let req: ControlRequest;
    try {
      req = parseRequest(line);
    } catch (err) {
      send({ id: 0, error: toP2pdError(err, 'CONTROL_BAD_REQUEST').toJSON() });
      return;
    }
    const handler = Object.hasOwn(this.#handlers, req.method) ? this.#handlers[req.method] : undefined;
    if (handler === undefined) {
      send({ id: req.id, error: { code: 'CONTROL_BAD_REQUEST', message: `unknown method "${req.method}"` } });
      return;
    }
    try {
      const result = await handler(req.params ?? {}, { signal, emit: (event, data) => send({ id: req.id, event, data }) });
      send({ id: req.id, result });
    } catch (err) {
      const e = toP2pdError(err);
      if (e.code === 'INTERNAL') this.#log.error({ err, method: req.method }, 'control request failed');
      send({ id: req.id, error: e.toJSON() });
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

/**
 * Creates `dir` (0700) when missing and refuses it unless it is the daemon user's own directory
 * that group and others cannot write: a 0755 directory made by hand is safe for a 0600 socket
 * (the same rule as the client's). The daemon calls this for stateDir before writing anything.
 */
export async function ensurePrivateDir(dir: string, what = "the control socket's directory"): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) {
    throw new P2pdError(
      'CONTROL_SOCKET_INSECURE',
      `${what} ${dir} must be a directory owned by this user that group and others cannot write (it is ${(st.mode & 0o777).toString(8)}, owner ${st.uid}): run \`chmod go-w ${dir}\` or set it elsewhere`,
      { details: { dir, mode: st.mode & 0o777, owner: st.uid } },
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
