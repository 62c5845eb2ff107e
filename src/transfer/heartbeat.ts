/**
 * Keeps an idle connection provably alive and notices a dead one. A cut cable gives no socket
 * error for minutes, and the socket's own inactivity timer counts our writes as activity, so each
 * side sends PING when it has been quiet and destroys the connection with TIMEOUT when nothing has
 * been *read* for the idle timeout.
 *
 * While this side waits for the peer to say something (its offer, its data), a peer that sends
 * only PINGs and PONGs makes no progress: with `heartbeatsCount` off, those do not reset the timer.
 */
import type { Duplex } from 'node:stream';
import { P2pdError } from '../errors.js';
import type { DecodedEvent } from '../protocol/messages.js';
import { closeWithError, type FrameWriter } from './frame-io.js';

export interface Heartbeat {
  /** Call for every chunk read from the peer, with the events it completed. */
  touch: (events?: readonly DecodedEvent[]) => void;
  /** Whether PINGs and PONGs count as signs of life (default true). */
  heartbeatsCount: (count: boolean) => void;
  stop(): void;
}

export function startHeartbeat(deps: { socket: Duplex; writer: FrameWriter; idleTimeoutMs: number; heartbeatsCount?: boolean }): Heartbeat {
  const { socket, writer, idleTimeoutMs } = deps;
  let lastRead = Date.now();
  let heartbeatsCount = deps.heartbeatsCount ?? true;
  const quiet = Math.max(200, Math.floor(idleTimeoutMs / 3));
  const interval = setInterval(
    () => {
      const now = Date.now();
      if (now - lastRead >= idleTimeoutMs) {
        const reason = new P2pdError('TIMEOUT', `nothing heard from the peer for ${Math.round(idleTimeoutMs / 1000)} s: the link may be down`);
        // Say why, in case the peer is alive but stuck; a dead link just drops it.
        clearInterval(interval);
        closeWithError(socket, writer, reason, 500);
        return;
      }
      if (now - writer.lastWrite >= quiet && !socket.writableNeedDrain) writer.send({ type: 'ping' });
    },
    Math.min(quiet, 1000),
  );
  interval.unref();
  return {
    touch(events?: readonly DecodedEvent[]): void {
      // A chunk that completed nothing is part of a longer frame: progress.
      if (!heartbeatsCount && events !== undefined && events.length > 0 && events.every((e) => e.type === 'ping' || e.type === 'pong')) return;
      lastRead = Date.now();
    },
    heartbeatsCount(count: boolean): void {
      heartbeatsCount = count;
    },
    stop(): void {
      clearInterval(interval);
    },
  };
}
