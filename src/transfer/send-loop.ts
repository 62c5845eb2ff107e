/**
 * One send from start to end: attempts through the peer's driver, retries with backoff for
 * failures that may heal, files a retry need not send again, and when to give up. The manager
 * keeps the record; the driver owns the wire.
 */
import { isRetryable, P2pdError, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PeerAddress, SessionDriver } from './drivers.js';
import type { FileSource } from './ports.js';
import type { FileOutcome, TransferProgress } from './progress.js';
import { declinedOnly, MAX_FILES_IN_RECORD, type TransferState, type Tracked } from './records.js';
import type { Semaphore } from './semaphore.js';

export interface RetryOptions {
  minDelayMs: number;
  maxDelayMs: number;
  giveUpMs: number;
}

/**
 * Which failures that may heal are retried: "connected" once the receiver has been reached at
 * least once (a peer that is simply offline fails at once); "always" also waits for a peer that is
 * away; "never" for the outbox, which keeps its own schedule.
 */
export type RetryMode = 'connected' | 'always' | 'never';

/** What the loop needs from the manager. */
export interface SendLoopHost {
  retry(): RetryOptions;
  outgoingSlots: Semaphore;
  setState(t: Tracked, state: TransferState): void;
  progress(t: Tracked, p: TransferProgress): void;
  finish(t: Tracked, state: TransferState, error: P2pdError | null): void;
}

export interface SendPlan {
  tracked: Tracked;
  driver: SessionDriver;
  /** What the user typed. */
  query: string;
  peer: PeerAddress;
  source: FileSource;
  rescan: ((signal: AbortSignal) => Promise<FileSource>) | undefined;
  retryMode: RetryMode;
  signal: AbortSignal;
  log: Logger;
}

/** Runs the send to its end; never throws (the outcome is in the record). */
export async function runSendLoop(host: SendLoopHost, plan: SendPlan): Promise<void> {
  const { tracked, signal, log } = plan;
  const record = tracked.record;
  /** host:port sends have no mDNS record to find the peer by id: they keep dialing the address. */
  const direct = plan.peer.id === null;
  let reached = false;
  const firstTry = Date.now();
  let source = plan.source;
  /** Files the receiver already confirmed: a retry does not send them again. */
  const delivered = new Map<string, FileOutcome>();
  for (let attempt = 1; ; attempt++) {
    record.attempts = attempt;
    try {
      // A retry reads the paths again: a file that changed meanwhile is sent afresh.
      if (attempt > 1 && plan.rescan !== undefined) source = await plan.rescan(signal);
      setTotals(record, source);
      // Once reached, the peer is addressed by its id: a name may have dropped out of the mDNS
      // table while the link was down.
      const query = reached && record.peer.id !== null && !direct ? record.peer.id : plan.query;
      await attemptOnce(host, plan, { query, source: withoutDelivered(source, delivered), delivered, onConnected: () => (reached = true) });
      host.finish(tracked, 'done', null);
      log.info({ bytes: record.bytesDone, bytesPerSecond: record.bytesPerSecond, attempts: attempt }, 'sent and verified');
      return;
    } catch (err) {
      const e = toP2pdError(err, 'CONNECTION_LOST');
      const { minDelayMs, maxDelayMs, giveUpMs } = host.retry();
      const giveUpAt = firstTry + giveUpMs;
      const retry = plan.retryMode === 'always' || (plan.retryMode === 'connected' && reached);
      const healable = isRetryable(e.code) || (reached && e.code === 'PEER_NOT_FOUND');
      if (!retry || signal.aborted || !healable || Date.now() >= giveUpAt) {
        const final =
          retry && healable && !signal.aborted
            ? new P2pdError(e.code, `${e.message} (gave up after ${attempt} attempts in ${Math.round((Date.now() - firstTry) / 60_000)} min)`)
            : e;
        host.finish(tracked, e.code === 'TRANSFER_CANCELLED' ? 'cancelled' : 'failed', final);
        log.warn({ code: e.code, err: e.message, attempts: attempt }, 'send failed');
        return;
      }
      const delay = Math.min(maxDelayMs, minDelayMs * 2 ** (attempt - 1)) * (0.75 + Math.random() * 0.5);
      record.error = { code: e.code, message: e.message };
      record.nextAttemptAt = new Date(Date.now() + delay).toISOString();
      host.setState(tracked, 'retrying');
      log.info({ code: e.code, err: e.message, attempt, delayMs: Math.round(delay) }, 'send interrupted; will retry');
      await sleep(tracked, Math.min(delay, giveUpAt - Date.now()), signal).catch(() => undefined);
      record.nextAttemptAt = null;
    }
  }
}

async function attemptOnce(
  host: SendLoopHost,
  plan: SendPlan,
  step: { query: string; source: FileSource; delivered: Map<string, FileOutcome>; onConnected: () => void },
): Promise<void> {
  const { tracked, signal, log } = plan;
  const { delivered } = step;
  const record = tracked.record;
  const release = await host.outgoingSlots.acquire(signal);
  try {
    host.setState(tracked, 'connecting');
    tracked.dataStartedAt = null;
    const result = await plan.driver.send({
      transferId: record.id,
      query: step.query,
      peer: plan.peer,
      source: step.source,
      signal,
      baseProgress: { files: delivered.size, bytes: [...delivered.values()].reduce((n, f) => n + (f.bytes ?? 0), 0) },
      onConnected: (peer) => {
        record.peer = { id: peer.id, name: peer.name };
        record.error = null;
        step.onConnected();
        log.info({ peer: peer.id, peerName: peer.name, files: record.filesTotal, bytes: record.bytesTotal, attempt: record.attempts }, 'sending');
      },
      onProgress: (p) => host.progress(tracked, p),
      onResume: (bytes) => {
        record.resumedFrom = bytes;
      },
      onFileResult: (o) => {
        if (o.ok) delivered.set(o.path, o);
      },
    });
    const all = [...delivered.values(), ...result.files.filter((f) => !delivered.has(f.path) || !f.ok)];
    record.files = all.slice(0, MAX_FILES_IN_RECORD);
    if (!result.ok) {
      // Files the receiver chose not to take are its answer, not a failure: when everything else
      // arrived, the transfer is done and says how many were declined.
      const declined = declinedOnly(result.files);
      if (declined !== undefined) {
        record.filesDeclined = declined;
        return;
      }
      const failed = result.files.filter((f) => !f.ok);
      const first = failed[0]?.error;
      throw new P2pdError(
        'TRANSFER_FAILED',
        `${failed.length} of ${result.files.length} files did not arrive verified${first ? ` (first: ${first.code})` : ''}`,
        {
          details: { firstCode: first?.code },
        },
      );
    }
  } finally {
    release();
  }
}

/** Waits `ms`, or less if the peer comes back (`tracked.wake`), never past an abort. */
function sleep(tracked: Tracked, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      tracked.wake = undefined;
    };
    const timer = setTimeout(
      () => {
        done();
        resolve();
      },
      Math.max(0, ms),
    );
    const onAbort = (): void => {
      done();
      reject(signal.reason);
    };
    tracked.wake = () => {
      done();
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The source without the files a previous attempt delivered (directories stay: they are cheap). */
function withoutDelivered(source: FileSource, delivered: Map<string, FileOutcome>): FileSource {
  if (delivered.size === 0) return source;
  const keep = source.entries.flatMap((e, i) => (e.kind === 'file' && delivered.has(e.path) ? [] : [i]));
  return {
    entries: keep.map((i) => source.entries[i]!),
    read: (index, options) => source.read(keep[index]!, options),
  };
}

export function setTotals(record: { filesTotal: number; bytesTotal: number }, source: FileSource): void {
  record.filesTotal = source.entries.filter((e) => e.kind === 'file').length;
  record.bytesTotal = source.entries.reduce((n, e) => n + (e.kind === 'file' ? e.size : 0), 0);
}
