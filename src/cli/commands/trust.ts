/** `p2pd trust` and `p2pd untrust`: pinning a peer's identity. */
import type { TrustResultView, UntrustResultView } from '../../control/api.js';
import type { CliContext } from '../context.js';
import { safe } from '../format.js';

export async function trustCommand(ctx: CliContext, peer: string, name: string | undefined): Promise<number> {
  const r = await ctx.client().request<TrustResultView>('trust', name === undefined ? { peer } : { peer, name });
  if (ctx.json) {
    ctx.printJson(r);
    return 0;
  }
  const who = safe(r.peer.trustedName ?? r.peer.name);
  ctx.out(`${r.alreadyTrusted ? 'Already trusted' : 'Trusted'}: ${who}`);
  ctx.out(`  fingerprint  ${r.fingerprint}`);
  ctx.out(`Check that \`p2pd id\` on ${who} shows the same fingerprint; if it does not, run \`p2pd untrust ${r.peer.shortId}\`.`);
  return 0;
}

export async function untrustCommand(ctx: CliContext, peer: string): Promise<number> {
  const r = await ctx.client().request<UntrustResultView>('untrust', { peer });
  if (ctx.json) {
    ctx.printJson(r);
    return 0;
  }
  ctx.out(r.removed ? `No longer trusted: ${safe(r.peer.name)} (${r.peer.shortId})` : `${safe(r.peer.name)} was not trusted.`);
  return 0;
}
