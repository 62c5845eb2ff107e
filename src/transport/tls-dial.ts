/**
 * The TLS dialer: tries a peer's addresses with a stagger (the next address starts when one fails
 * or after a head start), presents our certificate, and hands out the first socket whose server
 * presents the peer id we expect.
 */
import tls from 'node:tls';
import { P2pdError } from '../errors.js';
import type { Identity } from './identity.js';
import { parsePeerId } from './peer-id.js';
import { abortReason, describe, peerIdOf, secureContextOptions } from './tls-common.js';

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
      addresses.map((a, i) => failures[i] ?? { host: a.host, port: a.port, code: i < next ? 'PENDING' : 'NOT_TRIED', message: '', connected: false });

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
