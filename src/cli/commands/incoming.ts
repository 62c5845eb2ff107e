/** `p2pd incoming`, `p2pd accept` and `p2pd reject`: offers that wait for a person's answer. */
import type { AcceptFileChoice, AcceptParams } from '../../control/methods.js';
import type { IncomingOfferView } from '../../control/views.js';
import { P2pdError } from '../../errors.js';
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

export interface AcceptOptions {
  to?: string;
  rename?: string[];
  skip?: Array<string | number>;
}

/** `--rename 2=notes.txt --skip 3` → the `files` param of `accept`. */
export function acceptParams(id: string, options: AcceptOptions): AcceptParams {
  const files = new Map<number, AcceptFileChoice>();
  const index = (text: string, flag: string): number => {
    if (!/^\d+$/.test(text.trim())) throw new P2pdError('USAGE', `${flag} takes a file's index as \`p2pd incoming\` lists it, got "${text}"`);
    return Number(text.trim());
  };
  for (const r of options.rename ?? []) {
    const eq = r.indexOf('=');
    if (eq <= 0 || eq === r.length - 1) throw new P2pdError('USAGE', `--rename takes <index>=<new name>, got "${r}"`);
    const i = index(r.slice(0, eq), '--rename');
    files.set(i, { ...files.get(i), index: i, rename: r.slice(eq + 1) });
  }
  for (const s of options.skip ?? []) {
    const i = index(String(s), '--skip');
    files.set(i, { ...files.get(i), index: i, skip: true });
  }
  return {
    id,
    ...(options.to === undefined ? {} : { to: options.to }),
    ...(files.size === 0 ? {} : { files: [...files.values()].sort((a, b) => a.index - b.index) }),
  };
}

export async function answerCommand(ctx: CliContext, id: string, accept: boolean, options: AcceptOptions = {}): Promise<number> {
  const r = accept ? await ctx.client().request('accept', acceptParams(id, options)) : await ctx.client().request('reject', { id });
  if (ctx.json) ctx.printJson(r);
  else
    ctx.out(
      `${accept ? 'Accepted' : 'Rejected'} ${r.offer.files} file${r.offer.files === 1 ? '' : 's'} (${bytes(r.offer.bytes)}) from ${safe(r.offer.peer.name)}.`,
    );
  return 0;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}
