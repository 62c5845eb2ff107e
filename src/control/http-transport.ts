/**
 * The web dashboard's transport: the same dispatcher as the Unix socket, over HTTP on 127.0.0.1.
 * A browser is a confused deputy waiting to happen, so every request passes three gates before
 * anything else (docs/SECURITY.md, "The dashboard"):
 *  - Host must name this server exactly (127.0.0.1:P or localhost:P): a DNS-rebound name fails;
 *  - Origin, when sent, must be this server's own, and Sec-Fetch-Site same-origin or none: a page
 *    of another site, or on another local port, cannot call the API;
 *  - the API needs `Authorization: Bearer <session>` (checked by the dispatcher's authenticate
 *    hook), which a foreign page cannot attach without a CORS preflight this server never grants.
 * No response carries a CORS header or a cookie.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { P2pdError, toP2pdError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { Caller, Dispatcher } from './dispatcher.js';
import { StagingArea, type StagingLimits } from './http-uploads.js';
import { readJson, sendJson } from './http-util.js';

/** Open dashboard connections at most; more are closed at once by node:http. */
const MAX_CONNECTIONS = 64;

export interface HttpTransportOptions {
  /** 0 = any free port. */
  port: number;
  /** Whether `port` was chosen by the user: if not and it is taken, any free port is used. */
  portExplicit: boolean;
  /** The built client (index.html, app.js, app.css). */
  assetsDir: string;
  /** A private folder for uploads, emptied at start and stop. */
  stagingDir: string;
  staging?: Partial<StagingLimits>;
  /** Largest JSON request body. */
  maxBodyBytes?: number;
  /** Unread bytes queued to one event stream beyond which it is dropped (the client resumes). */
  maxQueuedBytes?: number;
}

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

const STATUS: Partial<Record<ErrorCode, number>> = {
  CONTROL_UNAUTHORIZED: 401,
  CONTROL_BAD_REQUEST: 400,
  DAEMON_NOT_RUNNING: 503,
};

/** A refusal of the gates: 403 and CONTROL_UNAUTHORIZED, whatever the route. */
class Forbidden extends P2pdError {
  constructor(message: string) {
    super('CONTROL_UNAUTHORIZED', message);
  }
}

export class HttpTransport {
  readonly #log: Logger;
  readonly #dispatcher: Dispatcher;
  readonly #options: HttpTransportOptions;
  readonly #staging: StagingArea;
  readonly #assets = new Map<string, Buffer>();
  readonly #stop = new AbortController();
  #server: Server | undefined;
  #port = 0;

  constructor(deps: { logger: Logger; dispatcher: Dispatcher }, options: HttpTransportOptions) {
    this.#log = deps.logger;
    this.#dispatcher = deps.dispatcher;
    this.#options = options;
    this.#staging = new StagingArea(
      { logger: deps.logger, dispatcher: deps.dispatcher },
      { dir: options.stagingDir, limits: options.staging ?? {}, signal: this.#stop.signal },
    );
  }

  /** The port listened on (after start). */
  get port(): number {
    return this.#port;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async start(_options: { signal?: AbortSignal } = {}): Promise<void> {
    for (const { file } of Object.values(ASSETS)) {
      // A build without the client still serves the API; the page says what is missing.
      const body = await readFile(join(this.#options.assetsDir, file)).catch(() => Buffer.from(`missing ${file}: run npm run build`));
      this.#assets.set(file, body);
    }
    await this.#staging.start();
    let server: Server;
    try {
      server = await this.#listen(this.#options.port);
    } catch (err) {
      if (!(err instanceof P2pdError && err.code === 'PORT_IN_USE') || this.#options.portExplicit) throw err;
      this.#log.warn({ port: this.#options.port }, 'the default dashboard port is taken; using a free port instead (set dashboard.port to choose one)');
      server = await this.#listen(0);
    }
    this.#server = server;
    this.#port = (server.address() as { port: number }).port;
    this.#log.info({ url: this.origin }, 'dashboard listening (open it with `p2pd ui`)');
  }

  #listen(port: number): Promise<Server> {
    const server = createServer({ requestTimeout: 0, headersTimeout: 20_000, keepAliveTimeout: 5000 }, (req, res) => void this.#handle(req, res));
    // One browser needs a handful of connections (the event stream, calls, a few uploads): a
    // local program that opens thousands must not exhaust the daemon's file descriptors.
    server.maxConnections = MAX_CONNECTIONS;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE' ? new P2pdError('PORT_IN_USE', `the dashboard port ${port} is taken`) : toP2pdError(err));
      });
      server.listen({ host: '127.0.0.1', port }, () => resolve(server));
    });
  }

  async stop(): Promise<void> {
    this.#stop.abort(new P2pdError('TRANSFER_CANCELLED', 'the daemon is stopping'));
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await this.#staging.stop();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const url = new URL(req.url ?? '/', 'http://x');
    try {
      this.#checkHost(req);
      if (req.method === 'GET' && Object.hasOwn(ASSETS, url.pathname)) {
        // The page itself holds no secret: a link or bookmark from anywhere may open it.
        const asset = ASSETS[url.pathname]!;
        res.writeHead(200, { 'Content-Type': asset.type });
        res.end(this.#assets.get(asset.file));
        return;
      }
      this.#checkSameOrigin(req);
      const caller = this.#caller(req);
      if (url.pathname.startsWith('/api/') && req.method === 'POST') {
        // Method names are plain ASCII: no decoding, so a malformed escape is just an unknown method.
        await this.#api(req, res, url.pathname.slice(5), caller);
      } else if (url.pathname === '/upload' || url.pathname.startsWith('/upload/')) {
        await this.#authorize(caller);
        await this.#staging.handle(req, res, url.pathname.slice(7), caller);
      } else {
        throw new P2pdError('CONTROL_BAD_REQUEST', `no such route: ${req.method ?? '?'} ${url.pathname}`, { details: { status: 404 } });
      }
    } catch (err) {
      sendError(res, err);
    }
  }

  #checkHost(req: IncomingMessage): void {
    const host = req.headers.host;
    if (host !== `127.0.0.1:${this.#port}` && host !== `localhost:${this.#port}`) {
      // A DNS-rebound name resolves here too; only the literal names are this server's.
      throw new Forbidden(`the dashboard answers only to 127.0.0.1:${this.#port} or localhost:${this.#port} (reach it from elsewhere through an SSH tunnel)`);
    }
  }

  #checkSameOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) throw new Forbidden('requests from other sites or ports are refused');
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new Forbidden('requests from other sites or ports are refused');
  }

  #caller(req: IncomingMessage): Caller {
    const auth = req.headers.authorization;
    const m = auth === undefined ? null : /^Bearer ([A-Za-z0-9_-]{16,128})$/.exec(auth);
    return m === null ? { transport: 'http' } : { transport: 'http', credentials: m[1] };
  }

  /** Routes that are not methods (uploads) still need a session: the hook judges a cheap call. */
  async #authorize(caller: Caller): Promise<void> {
    await this.#dispatcher.call({ method: 'id', params: {}, signal: this.#stop.signal, emit: () => undefined, caller });
  }

  async #api(req: IncomingMessage, res: ServerResponse, method: string, caller: Caller): Promise<void> {
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
      throw new P2pdError('CONTROL_BAD_REQUEST', 'the API takes JSON: set Content-Type: application/json');
    }
    const params = await readJson(req, this.#options.maxBodyBytes ?? 1024 * 1024);
    const hangup = new AbortController();
    res.on('close', () => hangup.abort(new P2pdError('TRANSFER_CANCELLED', 'the browser hung up')));
    const signal = AbortSignal.any([hangup.signal, this.#stop.signal]);
    if (!/\btext\/event-stream\b/.test(req.headers.accept ?? '')) {
      const result = await this.#dispatcher.call({ method, params, signal, emit: () => undefined, caller });
      sendJson(res, 200, { result });
      return;
    }
    // Events as server-sent events, read by the page with fetch (EventSource cannot send the
    // Authorization header); the last one is `result` or `error`.
    let opened = false;
    const open = (): void => {
      if (opened) return;
      opened = true;
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'X-Accel-Buffering': 'no' });
      res.flushHeaders();
    };
    const write = (event: string, data: unknown): void => {
      if (res.destroyed) return;
      if (res.writableLength > (this.#options.maxQueuedBytes ?? 4 * 1024 * 1024)) {
        res.destroy(); // a page that does not read is dropped; `watch` resumes from its last seq
        return;
      }
      open();
      const seq = (data as { seq?: unknown } | null)?.seq;
      const id = typeof seq === 'number' && event !== 'snapshot' && event !== 'reset' ? `id: ${seq}\n` : '';
      res.write(`${id}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    try {
      const result = await this.#dispatcher.call({ method, params, signal, emit: write, caller });
      if (!opened) sendJson(res, 200, { result });
      else {
        write('result', result);
        res.end();
      }
    } catch (err) {
      if (!opened) throw err;
      write('error', toP2pdError(err).toJSON());
      res.end();
    }
  }
}

export function sendError(res: ServerResponse, err: unknown): void {
  const e = toP2pdError(err);
  const status = err instanceof Forbidden ? 403 : typeof e.details?.status === 'number' ? e.details.status : (STATUS[e.code] ?? 422);
  const { details: _d, ...body } = e.toJSON();
  // A refused upload's body is not read: close the connection rather than drain it.
  if (!res.req.complete && !res.headersSent) {
    res.setHeader('Connection', 'close');
    res.once('finish', () => res.req.socket.destroy());
  }
  sendJson(res, status, { error: body });
}
