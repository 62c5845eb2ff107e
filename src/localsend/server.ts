/**
 * LocalSend v2's receiving API over HTTPS (docs/LOCALSEND.md): info, register, prepare-upload,
 * upload and cancel. The sender's identity is its client certificate's fingerprint when it shows
 * one (verified), never the JSON; without one it is unverified and its offers wait for a person.
 * Every offer goes through the manager's session (the same gate, inbox, record and history as
 * p2pd's own transfers).
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { P2pdError, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { InboundConnection, InboundResult, InboundSession } from '../transfer/drivers.js';
import type { InboxStore } from '../transfer/ports.js';
import { certificateFingerprint, type LocalSendIdentity } from './identity.js';
import { parseDeviceInfo, parsePrepareUpload, type DeviceInfo } from './messages.js';
import { UploadSession } from './session.js';

const API = '/api/localsend/v2/';
/** prepare-upload carries the whole file list; anything else is a small object. */
export const MAX_PREPARE_JSON = 8 * 1024 * 1024;
export const MAX_SMALL_JSON = 64 * 1024;
/** Wrong PINs one address may try before it is made to wait (app 1.18 allows 3). */
export const PIN_TRIES = 3;
const PIN_LOCK_MS = 10 * 60_000;
/** Sessions waiting for an answer or uploading, from every sender together. */
export const MAX_SESSIONS = 16;
const MAX_PIN_ADDRESSES = 1024;

export type RunInbound = (
  peer: InboundConnection['peer'],
  run: (session: InboundSession) => Promise<InboundResult>,
  options: { signal?: AbortSignal },
) => Promise<void>;

/** A LocalSend device that registered or announced itself, with what proves its fingerprint. */
export interface SeenDevice {
  info: DeviceInfo;
  address: string;
  /** The fingerprint its TLS certificate proved, or null (plain HTTP, or no client certificate). */
  verifiedFingerprint: string | null;
}

export interface LocalSendServerOptions {
  /** One address to bind; neither this nor `hosts`: every address. */
  host?: string;
  /** The addresses to bind (those of the chosen `interfaces`); [] binds nothing. */
  hosts?: readonly string[];
  port: number;
  alias: string;
  deviceModel: string;
  /** "" = no PIN. */
  pin: string;
  idleTimeoutMs: number;
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The status LocalSend senders understand for each of p2pd's refusals. */
export function statusOf(code: string): number {
  switch (code) {
    case 'OFFER_INVALID':
    case 'NAME_INVALID':
    case 'SIZE_MISMATCH':
      return 400;
    case 'PEER_REFUSED':
    case 'PEER_NOT_TRUSTED':
    case 'OFFER_TOO_LARGE':
    case 'INSUFFICIENT_SPACE':
      return 403;
    case 'PEER_BUSY':
      return 409;
    case 'HASH_MISMATCH':
      return 422;
    default:
      return 500;
  }
}

export class LocalSendServer {
  readonly name = 'localsend';
  readonly #log: Logger;
  readonly #inbox: InboxStore;
  readonly #run: RunInbound;
  readonly #identity: LocalSendIdentity;
  readonly #onDevice: ((d: SeenDevice) => void) | undefined;
  readonly #opts: LocalSendServerOptions;
  readonly #sessions = new Map<string, UploadSession>();
  readonly #pinFailures = new Map<string, { count: number; until: number }>();
  readonly #servers: Server[] = [];

  constructor(
    deps: { logger: Logger; inbox: InboxStore; receive: RunInbound; identity: LocalSendIdentity; onDevice?: (d: SeenDevice) => void },
    options: LocalSendServerOptions,
  ) {
    this.#log = deps.logger;
    this.#inbox = deps.inbox;
    this.#run = deps.receive;
    this.#identity = deps.identity;
    this.#onDevice = deps.onDevice;
    this.#opts = { ...options };
  }

  /** The PIN and the alias may change while running (SIGHUP). */
  configure(options: Partial<Pick<LocalSendServerOptions, 'pin' | 'alias'>>): void {
    Object.assign(this.#opts, options);
  }

  /** The bound port (after start; 0 when bound nowhere). */
  get port(): number {
    const a = this.#servers[0]?.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** What this device says about itself (info, register replies, announcements). */
  deviceInfo(): Omit<DeviceInfo, 'port' | 'protocol'> {
    return {
      alias: this.#opts.alias,
      version: '2.1',
      deviceModel: this.#opts.deviceModel,
      deviceType: 'headless',
      fingerprint: this.#identity.fingerprint,
      download: false,
    };
  }

  async start({ signal }: { signal: AbortSignal }): Promise<void> {
    // Port 0 picks a free port at the first address; the others share it, as one port is announced.
    let port = this.#opts.port;
    for (const host of this.#opts.hosts ?? [this.#opts.host]) {
      port = await this.#listen(port, host);
      signal.throwIfAborted();
    }
    if (this.#servers.length === 0) this.#log.warn({ interfaces: 'none with an IPv4 address' }, 'LocalSend receiver not listening: no address to bind');
    else this.#log.info({ hosts: this.#opts.hosts ?? 'all', port: this.port, fingerprint: this.#identity.fingerprint }, 'LocalSend receiver listening');
  }

  async #listen(port: number, host: string | undefined): Promise<number> {
    const server = createServer(
      { key: this.#identity.keyPem, cert: this.#identity.certPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
      (req, res) => void this.#handle(req, res),
    );
    // Uploads may last long; a body that stalls is ended by the session's idle timer instead.
    server.requestTimeout = 0;
    server.headersTimeout = 15_000;
    server.maxConnections = 128;
    server.on('tlsClientError', (err) => this.#log.debug({ err: err.message }, 'LocalSend TLS handshake failed'));
    this.#servers.push(server);
    server.listen(port, host);
    await Promise.race([
      new Promise<void>((resolve) => server.once('listening', resolve)),
      new Promise<never>((_, reject) => server.once('error', (err) => reject(toP2pdError(err, 'INTERNAL')))),
    ]);
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.#sessions.values()) s.controller.abort(new P2pdError('TRANSFER_CANCELLED', 'the daemon is shutting down'));
    const servers = this.#servers.splice(0);
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localsend.invalid');
    const address = plainAddress(req.socket.remoteAddress);
    try {
      if (!url.pathname.startsWith(API)) throw new HttpFailure(404, 'not found');
      const route = url.pathname.slice(API.length);
      const want = route === 'info' ? 'GET' : 'POST';
      if (req.method !== want && !(route === 'info' && req.method === 'POST')) throw new HttpFailure(405, 'method not allowed');
      switch (route) {
        case 'info':
          return reply(res, 200, this.deviceInfo());
        case 'register':
          return reply(res, 200, this.#register(await readJson(req, MAX_SMALL_JSON), req, address));
        case 'prepare-upload':
          return await this.#prepareUpload(req, res, url, address);
        case 'upload':
          await this.#upload(req, url, address);
          return reply(res, 200, {});
        case 'cancel':
          this.#cancel(url, address);
          return reply(res, 200, {});
        default:
          throw new HttpFailure(404, 'not found');
      }
    } catch (err) {
      const failure = err instanceof HttpFailure ? err : new HttpFailure(statusOf(toP2pdError(err).code), toP2pdError(err).message);
      if (failure.status >= 500) this.#log.warn({ address, err: failure.message }, 'LocalSend request failed');
      else this.#log.debug({ address, status: failure.status, err: failure.message }, 'LocalSend request refused');
      reply(res, failure.status, { message: failure.message });
      // A body we did not read (refused early) is not drained: the connection goes.
      if (!req.complete) res.once('finish', () => req.socket.destroy());
    }
  }

  #register(body: unknown, req: IncomingMessage, address: string): ReturnType<LocalSendServer['deviceInfo']> {
    const info = parseDeviceInfo(body);
    this.#onDevice?.({ info, address, verifiedFingerprint: clientFingerprint(req) });
    return this.deviceInfo();
  }

  async #prepareUpload(req: IncomingMessage, res: ServerResponse, url: URL, address: string): Promise<void> {
    this.#checkPin(url.searchParams.get('pin'), address);
    for (const s of this.#sessions.values()) {
      if (s.address === address) throw new HttpFailure(409, 'a session from this address is running already');
    }
    if (this.#sessions.size >= MAX_SESSIONS) throw new HttpFailure(409, 'too many sessions are running; try again later');
    const { info, files } = parsePrepareUpload(await readJson(req, MAX_PREPARE_JSON));
    if (files.length === 0) {
      res.writeHead(204).end();
      return;
    }
    const proven = clientFingerprint(req);
    const sender = { id: proven ?? `unverified@${address}`, claimedName: info.alias, protocol: 'localsend', verified: proven !== null };
    const session = new UploadSession({ inbox: this.#inbox }, { address, sender, files, idleTimeoutMs: this.#opts.idleTimeoutMs });
    this.#sessions.set(session.id, session);
    // The sender gave up waiting (closed the request) before the answer: the offer goes too.
    res.once('close', () => {
      if (!res.writableFinished) session.controller.abort(new P2pdError('TRANSFER_CANCELLED', 'the LocalSend sender withdrew its offer'));
    });
    void this.#run({ id: sender.id, address, verified: sender.verified }, (s) => session.run(s), { signal: session.controller.signal }).finally(() =>
      this.#sessions.delete(session.id),
    );
    const tokens = await session.ready;
    reply(res, 200, { sessionId: session.id, files: tokens });
  }

  async #upload(req: IncomingMessage, url: URL, address: string): Promise<void> {
    const sessionId = url.searchParams.get('sessionId');
    const fileId = url.searchParams.get('fileId');
    const token = url.searchParams.get('token');
    if (sessionId === null || fileId === null || token === null) throw new HttpFailure(400, 'sessionId, fileId and token are required');
    const session = this.#sessions.get(sessionId);
    // Another address than the session's is treated exactly like a wrong token.
    if (session === undefined || session.address !== address) throw new HttpFailure(403, 'no such session for this address');
    const access = session.authorize(fileId, token);
    if (access === 'unknown') throw new HttpFailure(403, 'wrong file or token');
    if (access === 'busy') throw new HttpFailure(409, 'this file is being uploaded or is done');
    await session.upload(fileId, req);
  }

  #cancel(url: URL, address: string): void {
    const session = this.#sessions.get(url.searchParams.get('sessionId') ?? '');
    if (session === undefined || session.address !== address) throw new HttpFailure(403, 'no such session for this address');
    session.controller.abort(new P2pdError('TRANSFER_CANCELLED', 'the LocalSend sender cancelled'));
  }

  /** A wrong PIN counts against the address; after PIN_TRIES it must wait (429). A missing PIN is a question, not a try. */
  #checkPin(given: string | null, address: string): void {
    const pin = this.#opts.pin;
    if (pin === '') return;
    const now = Date.now();
    const failures = this.#pinFailures.get(address);
    if (failures !== undefined && failures.count >= PIN_TRIES && now < failures.until) throw new HttpFailure(429, 'too many wrong PINs; try again later');
    if (given === null || given === '') throw new HttpFailure(401, 'PIN required');
    if (given === pin) {
      this.#pinFailures.delete(address);
      return;
    }
    const count = failures !== undefined && now < failures.until ? failures.count + 1 : 1;
    this.#pinFailures.delete(address);
    if (this.#pinFailures.size >= MAX_PIN_ADDRESSES) this.#pinFailures.delete(this.#pinFailures.keys().next().value!);
    this.#pinFailures.set(address, { count, until: now + PIN_LOCK_MS });
    throw new HttpFailure(401, 'wrong PIN');
  }
}

/** The fingerprint of the client certificate the peer proved it holds, or null. */
function clientFingerprint(req: IncomingMessage): string | null {
  const cert = (req.socket as TLSSocket).getPeerCertificate?.();
  return cert !== undefined && cert.raw !== undefined && cert.raw.length > 0 ? certificateFingerprint(cert.raw) : null;
}

function plainAddress(a: string | undefined): string {
  return a?.startsWith('::ffff:') === true ? a.slice(7) : (a ?? '');
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** Reads a JSON body of at most `max` bytes (413 above it, 400 when it does not parse). */
async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new HttpFailure(413, `the body is over ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new HttpFailure(413, `the body is over ${max} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpFailure(400, 'the body is not JSON');
  }
}
