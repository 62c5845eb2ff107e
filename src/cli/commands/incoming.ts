/** `p2pd incoming`, `p2pd accept` and `p2pd reject`: offers that wait for a person's answer. */
import type { IncomingOfferView } from '../../control/views.js';
import type { CliContext } from '../context.js';
import { ago, bytes, safe, table } from '../format.js';

export async function incomingCommand(ctx: CliContext): Promise<number> {
  const { offers } = await ctx.client().request<{ offers: IncomingOfferView[] }>('incoming');
  if (ctx.json) {
    ctx.printJson({ offers });
    return 0;
  }
  if (offers.length === 0) {
    ctx.out('No offers are waiting.');
    return 0;
  }
  ctx.out(
    table(
      ['ID', 'FROM', 'FILES', 'SIZE', 'NAMES', 'RECEIVED', 'EXPIRES'],
      offers.map((o) => [
        o.id,
        `${safe(o.peer.name)} (${o.peer.id.slice(0, 7)})`,
        String(o.files),
        bytes(o.bytes),
        truncate(o.names.map(safe).join(', '), 50),
        ago(o.receivedAt),
        `in ${Math.max(0, Math.round((Date.parse(o.expiresAt) - Date.now()) / 1000))} s`,
      ]),
    ),
  );
  ctx.out('\nAnswer with `p2pd accept <id>` or `p2pd reject <id>`.');
  return 0;
}

export async function answerCommand(ctx: CliContext, id: string, accept: boolean): Promise<number> {
  const r = await ctx.client().request<{ offer: IncomingOfferView; accepted: boolean }>(accept ? 'accept' : 'reject', { id });
  if (ctx.json) ctx.printJson(r);
  else ctx.out(`${accept ? 'Accepted' : 'Rejected'} ${r.offer.files} file${r.offer.files === 1 ? '' : 's'} (${bytes(r.offer.bytes)}) from ${safe(r.offer.peer.name)}.`);
  return 0;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}
