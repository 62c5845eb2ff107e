/**
 * `p2pd pair`: trust a peer by comparing a six-digit code instead of a 52-character id.
 *   p2pd pair <peer>           start; shows the code, asks on a terminal, else waits for --confirm
 *   p2pd pair --confirm [id]   this side's person says the codes match (id: if several wait)
 *   p2pd pair --reject [id]    ... that they do not
 *   p2pd pair --list           pairings waiting, both directions, with their codes
 */
import { createInterface } from 'node:readline/promises';
import type { PeerView } from '../../control/api.js';
import type { PairingView } from '../../control/views.js';
import type { CliContext } from '../context.js';
import { ago, safe, table } from '../format.js';

export async function pairCommand(ctx: CliContext, peer: string, options: { name?: string }): Promise<number> {
  const client = ctx.client();
  const stdin = ctx.deps.stdin;
  const interactive = stdin?.isTTY === true && !ctx.json;
  const say = (text: string): void => (ctx.json ? ctx.err(text) : ctx.out(text));
  const asked: Promise<void>[] = [];
  const r = await client.request<{ peer: PeerView | { id: string; name: string }; code: string; fingerprint: string }>(
    'pair',
    options.name === undefined ? { peer } : { peer, name: options.name },
    {
      onEvent: (event, data) => {
        if (event !== 'code') return;
        const v = data as PairingView;
        say(`Verification code: ${v.code}   (pairing ${v.id} with ${safe(v.peer.name)})`);
        say(`On ${safe(v.peer.name)}, \`p2pd pair --list\` shows its code; only if it is the same, confirm there with \`p2pd pair --confirm <id>\`.`);
        if (interactive && stdin !== undefined) {
          asked.push(
            (async () => {
              const rl = createInterface({ input: stdin, output: ctx.deps.stderr as unknown as NodeJS.WritableStream });
              const answer = await rl.question(`Does ${safe(v.peer.name)} show ${v.code}? [y/N] `);
              rl.close();
              await client.request('pair-answer', { id: v.id, ok: /^y(es)?$/i.test(answer.trim()) });
            })(),
          );
        } else {
          say(`Then confirm here with \`p2pd pair --confirm ${v.id}\` (or \`--reject ${v.id}\`).`);
        }
      },
    },
  );
  await Promise.allSettled(asked);
  if (ctx.json) {
    ctx.printJson(r);
    return 0;
  }
  ctx.out(`Paired: ${safe(r.peer.name)} is now trusted (fingerprint ${r.fingerprint}).`);
  return 0;
}

export async function pairAnswerCommand(ctx: CliContext, id: string | undefined, ok: boolean): Promise<number> {
  const r = await ctx.client().request<{ pairing: PairingView }>('pair-answer', id === undefined ? { ok } : { id, ok });
  if (ctx.json) ctx.printJson(r);
  else
    ctx.out(
      ok
        ? `Confirmed pairing ${r.pairing.id} with ${safe(r.pairing.peer.name)} (code ${r.pairing.code}); it completes when the other side confirms too.`
        : `Rejected pairing ${r.pairing.id} with ${safe(r.pairing.peer.name)}.`,
    );
  return 0;
}

export async function pairListCommand(ctx: CliContext): Promise<number> {
  const { pairings } = await ctx.client().request<{ pairings: PairingView[] }>('pairings');
  if (ctx.json) {
    ctx.printJson({ pairings });
    return 0;
  }
  if (pairings.length === 0) {
    ctx.out('No pairings are waiting.');
    return 0;
  }
  ctx.out(
    table(
      ['ID', 'DIR', 'PEER', 'CODE', 'STATE', 'STARTED'],
      pairings.map((p) => [
        p.id,
        p.direction === 'out' ? 'to' : 'from',
        `${safe(p.peer.name)} (${p.peer.id.slice(0, 7)})`,
        p.code ?? '-',
        p.state,
        ago(p.createdAt),
      ]),
    ),
  );
  return 0;
}
