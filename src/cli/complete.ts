/**
 * Shell completion of what only the daemon knows: peer names (send, trust, untrust, pair),
 * transfer ids (cancel) and offer ids (accept, reject). Everything else falls back to yargs' own
 * completion of commands and options; when the daemon cannot be reached nothing is offered.
 */
import type { CliContext } from './context.js';

type Done = (completions: string[]) => void;
type Defaults = (onCompleted?: (err: Error | null, completions: string[] | undefined) => void) => void;

/** Which positional each command's first argument is. */
const FIRST_ARGUMENT: Record<string, 'peer' | 'transfer' | 'offer'> = {
  send: 'peer',
  trust: 'peer',
  untrust: 'peer',
  pair: 'peer',
  cancel: 'transfer',
  accept: 'offer',
  incoming: 'offer',
  reject: 'offer',
};

/**
 * Peer names are chosen by whoever runs the peer; a completion is pasted into the person's
 * command line, so only plain words are offered (no spaces, quotes, `$`, `;`, backquotes).
 */
const PLAIN = /^[A-Za-z0-9][A-Za-z0-9._+#@-]*$/;

/** The words a yargs fallback completion gets: argv._ holds the words typed so far. */
export async function completeArgument(ctx: CliContext, current: string, words: readonly string[], defaults: Defaults, done: Done): Promise<void> {
  // words: ['p2pd'?, command, ...arguments, current]
  const rest = words[0] === 'p2pd' ? words.slice(1) : [...words];
  const kind = FIRST_ARGUMENT[String(rest[0] ?? '')];
  const typedBefore = rest.slice(1, -1).filter((w) => !String(w).startsWith('-'));
  if (kind === undefined || current.startsWith('-') || typedBefore.length > 0 || rest.length < 2) {
    // yargs' own completion must run inside its parse (it re-enters the parser): not after an await.
    defaults((_err, list) => done(list ?? []));
    return;
  }
  let names: string[] = [];
  try {
    names = await ask(ctx, kind);
  } catch {
    // No daemon, or a slow one: offer nothing, and the shell falls back to its own completion.
  }
  done(names.filter((n) => PLAIN.test(n) && n.startsWith(current)));
}

async function ask(ctx: CliContext, kind: 'peer' | 'transfer' | 'offer'): Promise<string[]> {
  const options = { connectTimeoutMs: 1000, signal: AbortSignal.timeout(2000) };
  const client = ctx.client();
  if (kind === 'peer') {
    const r = await client.request<{ peers: Array<{ displayName: string; trustedName: string | null }> }>('peers', {}, options);
    return [...new Set(r.peers.flatMap((p) => [p.displayName, ...(p.trustedName === null ? [] : [p.trustedName])]))];
  }
  if (kind === 'offer') {
    const r = await client.request<{ offers: Array<{ id: string }> }>('incoming', {}, options);
    return r.offers.map((o) => o.id);
  }
  const r = await client.request<{ transfers: Array<{ id: string; endedAt: string | null }> }>('status', {}, options);
  return r.transfers.filter((t) => t.endedAt === null).map((t) => t.id);
}
