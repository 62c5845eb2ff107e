/**
 * `p2pd watch`: the daemon's event stream as it happens, one line per event, until interrupted.
 * A lost connection (the daemon restarting) is retried, resuming after the last event seen.
 */
import { P2pdError } from '../../errors.js';
import type { WatchStreamEvents } from '../../control/events.js';
import type { CliContext } from '../context.js';
import { bytes, safe } from '../format.js';

type StreamEvent = { [K in keyof WatchStreamEvents]: { event: K; data: WatchStreamEvents[K] } }[keyof WatchStreamEvents];

const RETRY_MS = 2000;

export async function watchCommand(ctx: CliContext, options: { signal?: AbortSignal } = {}): Promise<number> {
  let since: number | undefined;
  let epoch: string | undefined;
  let lost = false;
  for (;;) {
    try {
      await ctx.client().request('watch', since === undefined ? {} : { since, ...(epoch === undefined ? {} : { epoch }) }, {
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        onEvent: (event, data) => {
          const e = { event, data } as StreamEvent;
          if (e.event === 'snapshot' || e.event === 'reset') {
            epoch = e.data.epoch;
            since = e.data.seq;
          } else {
            since = e.data.seq;
          }
          if (lost) ctx.err('p2pd: connected again.');
          lost = false;
          if (ctx.json) ctx.out(JSON.stringify(e));
          else ctx.out(describe(e));
        },
      });
      return 0;
    } catch (err) {
      if (options.signal?.aborted) return 0;
      if (!(err instanceof P2pdError) || err.code !== 'DAEMON_NOT_RUNNING') throw err;
      if (!lost) ctx.err(`p2pd: ${safe(err.message)}; trying again every ${RETRY_MS / 1000} s (Ctrl-C to stop)`);
      lost = true;
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
}

function describe(e: StreamEvent): string {
  const at = 'at' in e.data ? e.data.at.slice(11, 19) : new Date().toISOString().slice(11, 19);
  switch (e.event) {
    case 'snapshot':
      return `${at} now: ${e.data.peers.filter((p) => p.online).length} peers online, ${e.data.transfers.filter((t) => t.endedAt === null).length} transfers running, ${e.data.offers.length} offers and ${e.data.pairings.length} pairings waiting, ${e.data.outbox.length} outbox items`;
    case 'reset':
      return `${at} (events were missed: ${e.data.reason}; starting over)`;
    case 'peer': {
      const p = e.data.peer;
      return `${at} peer ${safe(p.displayName)} (${p.shortId}) ${p.online ? 'online' : 'offline'}${p.trusted ? ', trusted' : ''}${p.impersonates === null ? '' : `, claims to be ${safe(p.impersonates)}`}`;
    }
    case 'peer-gone':
      return `${at} peer ${e.data.id.slice(0, 7)} gone`;
    case 'transfer':
    case 'transfer-end': {
      const t = e.data.transfer;
      const arrow = t.direction === 'out' ? '→' : '←';
      const error = t.error === null ? '' : ` (${t.error.code}: ${safe(t.error.message)})`;
      return `${at} transfer ${t.id} ${arrow} ${safe(t.peer.name)}: ${t.state}, ${bytes(t.bytesDone)} of ${bytes(t.bytesTotal)}${error}`;
    }
    case 'offer': {
      const o = e.data.offer;
      return `${at} offer ${o.id} from ${safe(o.peer.name)}: ${o.files} file${o.files === 1 ? '' : 's'}, ${bytes(o.bytes)} (p2pd accept ${o.id})`;
    }
    case 'offer-end':
      return `${at} offer ${e.data.id} ${e.data.outcome}`;
    case 'pairing': {
      const p = e.data.pairing;
      return `${at} pairing ${p.id} ${p.direction === 'out' ? 'with' : 'from'} ${safe(p.peer.name)}: ${p.state}${p.code === null ? '' : `, code ${p.code}`}`;
    }
    case 'pairing-end':
      return `${at} pairing ${e.data.id} ${e.data.outcome}`;
    case 'outbox-item': {
      const i = e.data.item;
      return `${at} outbox ${safe(i.path)}: ${i.state}${i.lastError === null ? '' : ` (${i.lastError.code})`}`;
    }
    case 'outbox-item-gone':
      return `${at} outbox ${safe(e.data.path)} done`;
  }
}
