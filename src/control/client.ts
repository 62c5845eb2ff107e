/** The CLI's end of the control socket: one connection per command. */
import { createConnection } from 'node:net';
import { lstat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { P2pdError } from '../errors.js';
import { LineSplitter, type ControlResponse } from './api.js';
import type { EventsOf, MethodName, ParamsOf, ResultOf } from './methods.js';

type EventName<M extends MethodName> = keyof EventsOf<M> & string;

export interface TypedRequestOptions<M extends MethodName> {
  signal?: AbortSignal;
  /** Streamed events (progress, code, watch events) before the final result. */
  onEvent?: (event: EventName<M>, data: EventsOf<M>[EventName<M>]) => void;
  /** How long to wait for the daemon to accept the connection. */
  connectTimeoutMs?: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Streamed events (progress) before the final result. */
  onEvent?: (event: string, data: unknown) => void;
  /** How long to wait for the daemon to accept the connection. */
  connectTimeoutMs?: number;
}

export class ControlClient {
  readonly #path: string;
  readonly #uid: number | undefined;

  /** `uid`: when given, a socket whose directory is not this user's alone is refused, never used. */
  constructor(options: { socketPath: string; uid?: number }) {
    this.#path = options.socketPath;
    this.#uid = options.uid;
  }

  get socketPath(): string {
    return this.#path;
  }

  /**
   * Another user who can write to the socket's directory could put their own socket there and
   * read what we send (paths, commands): such a socket is not used.
   */
  async #checkPrivate(): Promise<void> {
    if (this.#uid === undefined || this.#uid < 0) return;
    const dir = dirname(this.#path);
    let st;
    try {
      st = await lstat(dir);
    } catch {
      return; // no directory: the connect fails with DAEMON_NOT_RUNNING
    }
    if (!st.isDirectory() || st.uid !== this.#uid || (st.mode & 0o022) !== 0) {
      throw new P2pdError(
        'CONTROL_SOCKET_INSECURE',
        `not using the control socket in ${dir}: that directory must belong to you and be closed to other users (\`chmod 700 ${dir}\`)`,
        { details: { dir, owner: st.uid, mode: st.mode & 0o777 } },
      );
    }
  }

  /** Calls a method of the table in methods.ts: its params and result are typed by its name. */
  request<M extends MethodName>(method: M, params?: ParamsOf<M>, options?: TypedRequestOptions<M>): Promise<ResultOf<M>>;
  /** @deprecated untyped form, kept for callers that name the result type themselves. */
  request<T>(method: string, params?: Record<string, unknown>, options?: RequestOptions): Promise<T>;
  async request<T>(method: string, params: object = {}, options: RequestOptions = {}): Promise<T> {
    await this.#checkPrivate();
    return new Promise<T>((resolve, reject) => {
      const socket = createConnection(this.#path);
      const splitter = new LineSplitter();
      let settled = false;
      const finish = (err: Error | undefined, value?: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        if (err !== undefined) reject(err);
        else resolve(value as T);
      };
      const onAbort = (): void => finish((options.signal?.reason as Error | undefined) ?? new P2pdError('TRANSFER_CANCELLED', 'cancelled'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => finish(notRunning(this.#path, 'ETIMEDOUT')), options.connectTimeoutMs ?? 5000);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.write(`${JSON.stringify({ id: 1, method, params })}\n`);
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (!socket.connecting && err.code !== 'ENOENT' && err.code !== 'ECONNREFUSED') {
          finish(new P2pdError('DAEMON_NOT_RUNNING', `the daemon closed the control connection: ${err.message}`, { cause: err }));
        } else {
          finish(notRunning(this.#path, err.code ?? 'unknown'));
        }
      });
      socket.on('close', () => finish(new P2pdError('DAEMON_NOT_RUNNING', 'the daemon closed the control connection before answering (did it stop?)')));
      socket.on('data', (chunk: Buffer) => {
        let lines: string[];
        try {
          lines = splitter.push(chunk);
        } catch (err) {
          finish(new P2pdError('CONTROL_BAD_REQUEST', 'the daemon sent an over-long line', { cause: err }));
          return;
        }
        for (const line of lines) {
          let msg: ControlResponse;
          try {
            msg = JSON.parse(line) as ControlResponse;
          } catch (err) {
            finish(new P2pdError('CONTROL_BAD_REQUEST', 'the daemon sent something that is not JSON', { cause: err }));
            return;
          }
          if ('event' in msg) options.onEvent?.(msg.event, msg.data);
          else if ('error' in msg) finish(P2pdError.fromJSON(msg.error));
          else if ('result' in msg) finish(undefined, msg.result as T);
        }
      });
    });
  }
}

function notRunning(path: string, why: string): P2pdError {
  return new P2pdError(
    'DAEMON_NOT_RUNNING',
    `p2pd is not running (nothing answers on ${path}). Start it with \`p2pd daemon\` (or \`systemctl --user start p2pd\` if installed as a service); if it runs with its own config, pass the same --config here.`,
    { details: { socket: path, reason: why } },
  );
}
