/**
 * Keeps an idle connection provably alive and notices a dead one. A cut cable gives no socket
 * error for minutes, and the socket's own inactivity timer counts our writes as activity, so each
 * side sends PING when it has been quiet and destroys the connection with TIMEOUT when nothing has
 * been *read* for the idle timeout.
 */
import type { Duplex } from 'node:stream';
import { P2pdError } from '../errors.js';
import { closeWithError, type FrameWriter } from './frame-io.js';

export interface Heartbeat {
  /** Call for every chunk read from the peer. */
  touch: () => void;
  stop(): void;
}

export function startHeartbeat(deps: { socket: Duplex; writer: FrameWriter; idleTimeoutMs: number }): Heartbeat {
  const { socket, writer, idleTimeoutMs } = deps;
  let lastRead = Date.now();
  const quiet = Math.max(200, Math.floor(idleTimeoutMs / 3));
  const interval = setInterval(() => {
    const now = Date.now();
    if (now - lastRead >= idleTimeoutMs) {
      const reason = new P2pdError('TIMEOUT', `nothing heard from the peer for ${Math.round(idleTimeoutMs / 1000)} s: the link may be down`);
      // Say why, in case the peer is alive but stuck; a dead link just drops it.
      clearInterval(interval);
      closeWithError(socket, writer, reason, 500);
      return;
    }
    if (now - writer.lastWrite >= quiet && !socket.writableNeedDrain) writer.send({ type: 'ping' });
  }, Math.min(quiet, 1000));
  interval.unref();
  return {
    touch(): void {
      lastRead = Date.now();
    },
    stop(): void {
      clearInterval(interval);
    },
  };
}
