/**
 * Mutual TLS 1.3 between peers. Both sides present self-signed certificates, so the usual chain
 * check is off (`rejectUnauthorized: false`) and identity is checked here instead: the listener
 * computes the client's peer id once the handshake is done, the dialer compares the server's
 * peer id with the one it expects before it hands the socket out.
 */
import tls from 'node:tls';
import type { Socket } from 'node:net';
import { P2pdError } from '../errors.js';
import type { Identity } from './identity.js';
import { parsePeerId, peerIdFromCertificate } from './peer-id.js';
import type { Lifecycle } from '../lifecycle.js';

export interface TransportLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * AES-128-GCM first: with AES-NI it is OpenSSL's fastest suite (4.4 GB/s per core here, against
 * 4.0 for AES-256-GCM and 3.8 for ChaCha20). Over loopback the difference is lost in noise: a
 * 1 GiB transfer costs the receiver about 0.9 s of CPU either way, most of it in Node's TLS
 * plumbing (16 KiB reads), not in the cipher. ChaCha20 stays for peers without AES instructions.
 */
export const TLS_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

function secureContextOptions(identity: Identity): tls.SecureContextOptions {
  return {
    key: identity.keyPem,
    cert: identity.certPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: TLS_CIPHERS,
  };
}

/** Peer id of the certificate the other side presented, or null if it presented none. */
function peerIdOf(socket: tls.TLSSocket): string | null {
  const cert = socket.getPeerX509Certificate();
  return cert === undefined ? null : peerIdFromCertificate(cert);
}

/** "::ffff:192.0.2.1" (an IPv4 client of a dual-stack listener) reads "192.0.2.1". */
function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

function describe(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return {
    code: typeof e?.code === 'string' ? e.code : 'ERROR',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

// ---------------------------------------------------------------------------------------------
// Listener

export interface TlsPeer {
  /** Canonical peer id computed from the client's certificate. */
  id: string;
  address: string;
  port: number;
}

export interface TlsListenerDeps {
  identity: Identity;
  logger?: TransportLogger;
}

export interface TlsListenerOptions {
  /** Address to listen on; by default all addresses, IPv6 and IPv4. */
  host?: string;
  /** 0 picks any free port. */
  port: number;
  /** A client must finish the TLS handshake within this time or is dropped. */
  handshakeTimeoutMs: number;
  /**
   * Called with every client that completed the handshake and presented a certificate. The socket
   * is the callee's from then on: it must listen for 'error' and destroy the socket when done.
   */
  onConnection: (socket: tls.TLSSocket, peer: TlsPeer) => void;
  /** Asked for every new TCP connection before TLS starts; false drops it at once. */
  admit?: (address: string) => boolean;
}

/** TCP connections allowed to be in their TLS handshake at once. */
export const MAX_HANDSHAKING = 256;

export interface TlsListener extends Lifecycle {
  /** Starts listening; aborting `signal` later stops the listener. Throws PORT_IN_USE. */
  start(options?: { signal?: AbortSignal }): Promise<{ port: number }>;
  /**
   * Stops accepting and drops clients still in their handshake. Sockets already handed to
   * onConnection are left to their owner.
   */
  stop(): Promise<void>;
}

const noopLogger: TransportLogger = { debug() {}, warn() {} };

export function createTlsListener(deps: TlsListenerDeps, options: TlsListenerOptions): TlsListener {
  const logger = deps.logger ?? noopLogger;
  let server: tls.Server | undefined;
  let starting = false;
  let stopping: Promise<void> | undefined;
  let unlinkSignal: (() => void) | undefined;
  /**
   * TCP connections whose TLS handshake has not finished: ours to drop on stop. Keyed by the
   * remote address and port, which tell apart the live connections of one listening socket.
   */
  const handshaking = new Map<string, Socket>();
  const keyOf = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string =>
    `${s.remoteAddress ?? ''}|${s.remotePort ?? 0}`;

  function build(): tls.Server {
    const srv = tls.createServer({
      ...secureContextOptions(deps.identity),
      honorCipherOrder: true,
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: options.handshakeTimeoutMs,
    });
    srv.on('connection', (raw: Socket) => {
      // Refused before any TLS work: rate limits per address, and a cap on handshakes in flight
      // so that a slowloris burst cannot exhaust memory or file descriptors.
      const address = plainAddress(raw.remoteAddress);
      if (options.admit !== undefined && !options.admit(address)) {
        logger.debug({ address, handshaking: handshaking.size }, 'connection refused before TLS (rate limit)');
        raw.destroy();
        return;
      }
      if (handshaking.size >= MAX_HANDSHAKING) {
        // Full: the oldest handshake goes, not the newcomer. Refusing newcomers would let a few
        // hundred stalled connections lock every honest peer out for a whole handshake timeout;
        // an honest handshake takes milliseconds, so the oldest one is almost surely a staller.
        const [oldestKey, oldest] = handshaking.entries().next().value as [string, Socket];
        handshaking.delete(oldestKey);
        oldest.destroy();
        logger.debug({ address, handshaking: handshaking.size }, 'too many TLS handshakes at once; dropped the oldest');
      }
      raw.setNoDelay(true);
      const key = keyOf(raw);
      logger.debug({ address: plainAddress(raw.remoteAddress), port: raw.remotePort }, 'TCP connection accepted');
      handshaking.set(key, raw);
      raw.once('close', () => {
        if (handshaking.get(key) === raw) handshaking.delete(key);
      });
    });
    srv.on('secureConnection', (socket: tls.TLSSocket) => {
      handshaking.delete(keyOf(socket));
      const where = { address: plainAddress(socket.remoteAddress), port: socket.remotePort ?? 0 };
      let id: string | null;
      try {
        id = peerIdOf(socket);
      } catch (err) {
        logger.debug({ ...where, err: describe(err) }, 'unreadable client certificate');
        socket.destroy();
        return;
      }
      if (id === null) {
        logger.debug(where, 'client presented no certificate; dropped');
        socket.destroy();
        return;
      }
      if (stopping !== undefined) {
        socket.destroy();
        return;
      }
      try {
        options.onConnection(socket, { id, ...where });
      } catch (err) {
        logger.warn({ ...where, peer: id, err: describe(err) }, 'connection handler threw; connection dropped');
        socket.destroy();
      }
    });
    // A client that fails or stalls its handshake only concerns that client. Node reports a
    // handshake timeout here but leaves the connection open: closing it is up to us.
    srv.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      logger.debug({ address: plainAddress(socket.remoteAddress), err: describe(err) }, 'TLS handshake failed');
      socket.destroy();
    });
    return srv;
  }

  function listen(srv: tls.Server, listenOptions: { host: string; ipv6Only?: boolean }): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        srv.off('listening', onListening);
        reject(err);
      };
      const onListening = (): void => {
        srv.off('error', onError);
        const address = srv.address();
        resolve(typeof address === 'object' && address !== null ? address.port : options.port);
      };
      srv.once('error', onError);
      srv.once('listening', onListening);
      srv.listen({ port: options.port, exclusive: true, ...listenOptions });
    });
  }

  async function start({ signal }: { signal?: AbortSignal } = {}): Promise<{ port: number }> {
    if (server !== undefined || starting) throw new P2pdError('INTERNAL', 'TLS listener already started');
    signal?.throwIfAborted();
    const srv = build();
    let port: number;
    starting = true;
    try {
      if (options.host !== undefined) {
        port = await listen(srv, { host: options.host });
      } else {
        try {
          port = await listen(srv, { host: '::', ipv6Only: false });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL' && code !== 'EINVAL') throw err;
          logger.debug({ err: describe(err) }, 'IPv6 unavailable; listening on IPv4 only');
          port = await listen(srv, { host: '0.0.0.0' });
        }
      }
    } catch (err) {
      throw listenError(err, options.host, options.port);
    } finally {
      starting = false;
    }
    server = srv;
    stopping = undefined;
    // Errors after listening (accept failures such as EMFILE) are logged, never thrown.
    srv.on('error', (err) => logger.warn({ err: describe(err) }, 'TLS listener error'));
    if (signal !== undefined) {
      if (signal.aborted) {
        await stop();
        throw abortReason(signal);
      }
      const onAbort = (): void => void stop();
      signal.addEventListener('abort', onAbort, { once: true });
      unlinkSignal = () => signal.removeEventListener('abort', onAbort);
    }
    return { port };
  }

  function stop(): Promise<void> {
    if (stopping !== undefined) return stopping;
    const srv = server;
    if (srv === undefined) return Promise.resolve();
    unlinkSignal?.();
    unlinkSignal = undefined;
    // close() releases the port at once but reports 'close' only after every connection ended,
    // including those handed out; so resolve once the listening handle is gone instead.
    stopping = new Promise<void>((resolve) => {
      srv.close();
      for (const raw of handshaking.values()) raw.destroy();
      handshaking.clear();
      setImmediate(resolve);
    }).then(() => {
      server = undefined;
    });
    return stopping;
  }

  return { start, stop };
}

function listenError(err: unknown, host: string | undefined, port: number): P2pdError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const details = { host: host ?? null, port, errno: code ?? null };
  if (code === 'EADDRINUSE') {
    return new P2pdError('PORT_IN_USE', `TCP port ${port} is in use by another program; choose another port or 0`, { cause: err, details });
  }
  if (code === 'EACCES') {
    return new P2pdError('PORT_IN_USE', `not permitted to listen on TCP port ${port}; choose a port above 1023 or 0`, { cause: err, details });
  }
  return new P2pdError('INTERNAL', `cannot listen on ${host ?? 'all addresses'} port ${port}: ${describe(err).message}`, { cause: err, details });
}

// ---------------------------------------------------------------------------------------------
// Dialer

export interface DialAddress {
  host: string;
  port: number;
}

export interface DialTlsDeps {
  identity: Identity;
}

export interface DialTlsOptions {
  /** Tried in this order; the next one starts when one fails or after `staggerMs`. */
  addresses: DialAddress[];
  /** The peer id the server must present; without it the caller checks `peerId` itself. */
  expectedId?: string;
  signal: AbortSignal;
  /** For the whole dial, over all addresses. */
  timeoutMs: number;
  /** Head start each address gets before the next one is tried alongside it. Default 250 ms. */
  staggerMs?: number;
}

export interface DialTlsResult {
  socket: tls.TLSSocket;
  /** Canonical peer id of the server's certificate. */
  peerId: string;
  address: DialAddress;
}

export const DEFAULT_STAGGER_MS = 250;

interface AttemptFailure {
  host: string;
  port: number;
  code: string;
  message: string;
  /** True if the TCP connection was made, so the failure was in TLS. */
  connected: boolean;
}

/**
 * Connects to the first address that completes a TLS 1.3 handshake, presenting our certificate.
 * Throws PEER_IDENTITY_MISMATCH (no further addresses are tried), PEER_UNREACHABLE (details list
 * each address's error), TLS_FAILED (every address answered but no handshake succeeded), TIMEOUT,
 * or the signal's reason.
 */
export function dialTls(deps: DialTlsDeps, options: DialTlsOptions): Promise<DialTlsResult> {
  const { signal, addresses, timeoutMs } = options;
  const staggerMs = options.staggerMs ?? DEFAULT_STAGGER_MS;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  let expected: string | undefined;
  if (options.expectedId !== undefined) {
    const parsed = parsePeerId(options.expectedId);
    if (parsed === null) return Promise.reject(new P2pdError('INTERNAL', 'dialTls: expectedId is not a peer id'));
    expected = parsed;
  }
  if (addresses.length === 0) {
    return Promise.reject(new P2pdError('PEER_UNREACHABLE', 'the peer has no known address', { details: { attempts: [] } }));
  }

  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext(secureContextOptions(deps.identity));
  } catch (err) {
    // The identity was checked on load; whatever OpenSSL says here names no key bytes.
    return Promise.reject(new P2pdError('IDENTITY_INVALID', `the identity cannot be used for TLS: ${describe(err).message}`));
  }

  return new Promise<DialTlsResult>((resolve, reject) => {
    const pending = new Set<tls.TLSSocket>();
    const failures: Array<AttemptFailure | undefined> = addresses.map(() => undefined);
    let next = 0;
    let settled = false;
    let staggerTimer: NodeJS.Timeout | undefined;

    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(staggerTimer);
      clearTimeout(overallTimer);
      signal.removeEventListener('abort', onAbort);
      for (const socket of pending) socket.destroy();
      pending.clear();
      outcome();
    };

    const attemptsDetail = (): AttemptFailure[] =>
      addresses.map(
        (a, i) => failures[i] ?? { host: a.host, port: a.port, code: i < next ? 'PENDING' : 'NOT_TRIED', message: '', connected: false },
      );

    const onAbort = (): void => finish(() => reject(abortReason(signal)));
    signal.addEventListener('abort', onAbort, { once: true });

    const overallTimer = setTimeout(() => {
      finish(() =>
        reject(
          new P2pdError('TIMEOUT', `no address of the peer completed a TLS handshake within ${timeoutMs} ms`, {
            details: { timeoutMs, attempts: attemptsDetail() },
          }),
        ),
      );
    }, timeoutMs);

    const launchNext = (): void => {
      clearTimeout(staggerTimer);
      staggerTimer = undefined;
      if (settled || next >= addresses.length) return;
      const index = next++;
      attempt(index);
      if (next < addresses.length) staggerTimer = setTimeout(launchNext, staggerMs);
    };

    const attempt = (index: number): void => {
      const address = addresses[index]!;
      let connected = false;
      let over = false;
      const socket = tls.connect({
        host: address.host,
        port: address.port,
        secureContext: context,
        minVersion: 'TLSv1.3',
        rejectUnauthorized: false,
      });
      pending.add(socket);

      // Idempotent: a socket may report an error and then its close; only the first counts, and
      // the listener stays so that late errors of a discarded socket go nowhere.
      const fail = (err: unknown): void => {
        if (over) return;
        over = true;
        socket.destroy();
        pending.delete(socket);
        if (settled) return;
        failures[index] = { host: address.host, port: address.port, ...describe(err), connected };
        if (next < addresses.length) launchNext();
        else if (pending.size === 0) finish(() => reject(allFailed(failures as AttemptFailure[])));
      };
      const onClose = (): void => fail(Object.assign(new Error('connection closed during the TLS handshake'), { code: 'ECONNRESET' }));
      const onSecure = (): void => {
        if (over) return;
        let actual: string | null;
        try {
          actual = peerIdOf(socket);
        } catch (err) {
          fail(err);
          return;
        }
        if (actual === null) {
          fail(Object.assign(new Error('the server presented no certificate'), { code: 'NO_CERTIFICATE' }));
          return;
        }
        over = true;
        pending.delete(socket);
        if (expected !== undefined && actual !== expected) {
          socket.destroy();
          const details = { expected, actual, host: address.host, port: address.port };
          const message = `${address.host} port ${address.port} presented another key than the expected peer's`;
          finish(() => reject(new P2pdError('PEER_IDENTITY_MISMATCH', message, { details })));
          return;
        }
        if (settled) {
          socket.destroy();
          return;
        }
        // The socket is the caller's now: it gets it without our listeners.
        socket.off('error', fail);
        socket.off('close', onClose);
        finish(() => resolve({ socket, peerId: actual, address: { host: address.host, port: address.port } }));
      };

      socket.once('connect', () => {
        connected = true;
        socket.setNoDelay(true);
      });
      socket.once('secureConnect', onSecure);
      socket.on('error', fail);
      socket.once('close', onClose);
    };

    launchNext();
  });
}

function allFailed(failures: AttemptFailure[]): P2pdError {
  const details = { attempts: failures };
  if (failures.every((f) => f.connected)) {
    return new P2pdError('TLS_FAILED', 'every address of the peer answered but no TLS handshake succeeded', { details });
  }
  return new P2pdError('PEER_UNREACHABLE', 'no address of the peer accepted a connection', { details });
}
