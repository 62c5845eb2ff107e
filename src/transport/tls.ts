/**
 * Mutual TLS 1.3 between peers. Both sides present self-signed certificates, so the usual chain
 * check is off (`rejectUnauthorized: false`) and identity is checked here instead: the listener
 * computes the client's peer id once the handshake is done, the dialer compares the server's
 * peer id with the one it expects before it hands the socket out (tls-dial.ts).
 *
 * This file: the listener.
 */
import tls from 'node:tls';
import type { Socket } from 'node:net';
import { P2pdError } from '../errors.js';
import type { Identity } from './identity.js';
import type { Lifecycle } from '../lifecycle.js';
import { abortReason, describe, peerIdOf, plainAddress, secureContextOptions, type TransportLogger } from './tls-common.js';

export { TLS_CIPHERS, type TransportLogger } from './tls-common.js';
export { DEFAULT_STAGGER_MS, dialTls, type DialAddress, type DialTlsDeps, type DialTlsOptions, type DialTlsResult } from './tls-dial.js';

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
  const keyOf = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string => `${s.remoteAddress ?? ''}|${s.remotePort ?? 0}`;

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
