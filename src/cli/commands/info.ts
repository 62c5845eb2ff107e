/** `p2pd id` and `p2pd peers`: who this daemon is and whom it sees. */
import type { IdView, PeerView } from '../../control/api.js';
import type { CliContext } from '../context.js';
import { ago, safe, table } from '../format.js';

export async function idCommand(ctx: CliContext): Promise<number> {
  const me = await ctx.client().request<IdView>('id');
  if (ctx.json) {
    ctx.printJson(me);
    return 0;
  }
  ctx.out(
    table(
      ['name', safe(me.name)],
      [
        ['id', me.fingerprint],
        ['short id', me.shortId],
        ['port', String(me.port)],
        ['inbox', me.inbox],
        ['version', `${me.version} (protocol ${me.protocolVersion})`],
      ],
    ),
  );
  return 0;
}

export async function peersCommand(ctx: CliContext): Promise<number> {
  const { peers } = await ctx.client().request<{ peers: PeerView[] }>('peers');
  if (ctx.json) {
    ctx.printJson({ peers });
    return 0;
  }
  if (peers.length === 0) {
    ctx.out('No peers seen yet. Peers appear within a few seconds when their daemons run on the same network (see docs/TROUBLESHOOTING.md).');
    return 0;
  }
  ctx.out(
    table(
      ['NAME', 'ID', 'ADDRESSES', 'TRUSTED', 'LAST SEEN'],
      peers.map((p) => [
        p.impersonates !== null ? `${safe(p.displayName)} (NOT your trusted ${safe(p.impersonates)}: another key)` : safe(p.displayName),
        p.shortId,
        p.addresses.join(', ') || '-',
        p.trusted ? (p.trustedName !== null && p.trustedName !== p.name ? `yes (as ${safe(p.trustedName)})` : 'yes') : 'no',
        p.online ? ago(p.lastSeen) : 'offline',
      ]),
    ),
  );
  return 0;
}
