/** `p2pd incoming`, `p2pd accept` and `p2pd reject`: offers that wait for a person's answer. */
import type { AcceptFileChoice, AcceptParams } from '../../control/methods.js';
import type { IncomingOfferView } from '../../control/views.js';
import { P2pdError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { ago, bytes, safe, table } from '../format.js';

export async function incomingCommand(ctx: CliContext, id?: string): Promise<number> {
  const { offers } = await ctx.client().request<{ offers: IncomingOfferView[] }>('incoming');
  if (id !== undefined) return offerDetail(ctx, offers, id.trim());
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
        expires(o),
      ]),
    ),
  );
  ctx.out('\nAnswer with `p2pd accept <id>` or `p2pd reject <id>`; `p2pd incoming <id>` lists an offer file by file, to --rename or --skip some.');
  return 0;
}

/** One offer, entry by entry, with the indexes that `accept --rename/--skip` take. */
function offerDetail(ctx: CliContext, offers: IncomingOfferView[], id: string): number {
  const o = offers.find((x) => x.id === id);
  if (o === undefined) throw new P2pdError('OFFER_NOT_FOUND', `no offer waiting for an answer has the id ${id}; \`p2pd incoming\` lists the offers waiting`);
  if (ctx.json) {
    ctx.printJson({ offer: o });
    return 0;
  }
  ctx.out(
    `Offer ${o.id} from ${safe(o.peer.name)} (${o.peer.id.slice(0, 7)}, ${o.peer.trusted ? 'trusted' : 'not trusted'}): ${o.files} files, ${bytes(o.bytes)}, expires ${expires(o)}.`,
  );
  const entries = o.entries ?? [];
  if (entries.length > 0) {
    ctx.out('');
    ctx.out(
      table(
        ['INDEX', 'KIND', 'SIZE', 'NAME'],
        entries.map((e) => [
          String(e.index),
          e.kind,
          e.kind === 'file' ? bytes(e.size) : '-',
          `${safe(e.name)}${e.cleaned === true ? '  (name cleaned)' : ''}`,
        ]),
      ),
    );
    const shownFiles = entries.filter((e) => e.kind === 'file').length;
    if (o.files > shownFiles) ctx.out(`… and ${o.files - shownFiles} more files not listed here.`);
  }
  for (const r of o.refused ?? []) ctx.out(`refused alone: entry ${r.index} ${safe(r.name)}: ${r.code}: ${safe(r.message)}`);
  ctx.out(`\nAccept with \`p2pd accept ${o.id}\` (options: --to <folder>, --rename <index>=<name>, --skip <index>) or refuse with \`p2pd reject ${o.id}\`.`);
  return 0;
}

function expires(o: IncomingOfferView): string {
  return `in ${Math.max(0, Math.round((Date.parse(o.expiresAt) - Date.now()) / 1000))} s`;
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
  const params = acceptParams(id, options);
  const r = accept ? await ctx.client().request('accept', params) : await ctx.client().request('reject', { id });
  if (ctx.json) ctx.printJson(r);
  else if (!accept) ctx.out(`Rejected ${r.offer.files} file${r.offer.files === 1 ? '' : 's'} (${bytes(r.offer.bytes)}) from ${safe(r.offer.peer.name)}.`);
  else for (const line of acceptedLines(r.offer, params)) ctx.out(line);
  return 0;
}

/** What an acceptance with choices really takes: the files kept, where, and what was renamed or skipped. */
export function acceptedLines(offer: IncomingOfferView, params: AcceptParams): string[] {
  const byIndex = new Map((offer.entries ?? []).map((e) => [e.index, e]));
  const skipped = (params.files ?? []).filter((f) => f.skip === true).map((f) => f.index);
  const renamed = (params.files ?? []).filter((f) => f.rename !== undefined && f.skip !== true);
  const skippedFiles = skipped.map((i) => byIndex.get(i)).filter((e) => e?.kind === 'file');
  const files = offer.files - skippedFiles.length;
  const size = offer.bytes - skippedFiles.reduce((n, e) => n + (e?.size ?? 0), 0);
  const of = files === offer.files ? '' : ` of ${offer.files}`;
  const where = params.to === undefined ? '' : ` into ${safe(params.to)}`;
  const lines = [`Accepted ${files}${of} file${files === 1 && of === '' ? '' : 's'} (${bytes(size)}) from ${safe(offer.peer.name)}${where}.`];
  const name = (i: number): string => safe(byIndex.get(i)?.name ?? `entry ${i}`);
  for (const f of renamed) lines.push(`  ${name(f.index)} will be saved as ${safe(f.rename!)}`);
  for (const i of skipped) lines.push(`  ${name(i)} skipped`);
  return lines;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}
