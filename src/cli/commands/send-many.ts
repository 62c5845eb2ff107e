/** `p2pd send a,b,c <paths>`, `--group <group>` and `--all-trusted`: one transfer per peer. */
import { resolve } from 'node:path';
import { ERROR_CODES, EXIT, P2pdError } from '../../errors.js';
import type { SendManyResultView, TransferView } from '../../control/api.js';
import type { CliContext } from '../context.js';
import { bytes, safe } from '../format.js';
import { MultiProgress } from '../multi-progress.js';

export type SendTargets = { peers: string[] } | { group: string } | { allTrusted: true };

/** `bob,carol` → ["bob", "carol"]; an empty name (`bob,,carol`, a trailing comma) is a usage error. */
export function splitPeers(text: string): string[] {
  const names = text.split(',').map((p) => p.trim());
  if (names.some((n) => n === '')) throw new P2pdError('USAGE', `"${safe(text)}" has an empty peer name: separate peers by single commas, as in bob,carol`);
  return names;
}

/** The exit status of a send to several peers: 0 only when every peer got every file. */
export function fanoutExit(outcome: SendManyResultView['outcome']): number {
  if (outcome === 'done' || outcome === 'queued') return EXIT.OK;
  return outcome === 'partial' ? ERROR_CODES.SEND_PARTIAL.exit : ERROR_CODES.SEND_ALL_FAILED.exit;
}

export async function sendManyCommand(ctx: CliContext, targets: SendTargets, paths: string[], detach: boolean, queue: boolean): Promise<number> {
  if (paths.length === 0) throw new P2pdError('USAGE', 'name at least one file or directory to send');
  const absolute = paths.map((p) => resolve(ctx.deps.cwd, p));
  const bars = new MultiProgress(ctx.deps.stderr, { enabled: !ctx.json });
  const interrupted = new AbortController();
  const release = detach ? undefined : ctx.deps.onInterrupt?.(() => interrupted.abort());
  let result: SendManyResultView;
  try {
    result = await ctx.client().request<SendManyResultView>(
      'send-many',
      { ...targets, paths: absolute, detach, queue },
      {
        signal: interrupted.signal,
        connectTimeoutMs: 5000,
        onEvent: (event, data) => {
          if (event === 'progress') bars.update(data as TransferView);
        },
      },
    );
  } catch (err) {
    if (!interrupted.signal.aborted) throw err;
    throw new P2pdError('TRANSFER_CANCELLED', 'interrupted: the transfers to every peer are cancelled; to leave them running, send with --detach.');
  } finally {
    release?.();
    bars.done();
  }
  for (const s of result.skipped) ctx.err(`skipped ${safe(s.path)}: ${s.reason}`);
  if (ctx.json) ctx.printJson(result);
  else printOutcome(ctx, result, detach);
  return fanoutExit(result.outcome);
}

function printOutcome(ctx: CliContext, r: SendManyResultView, detach: boolean): void {
  if (detach) {
    for (const t of r.transfers) ctx.out(`Queued transfer ${t.id} to ${safe(t.peer.name)}.`);
    ctx.out('Follow them with `p2pd status`.');
    return;
  }
  for (const t of r.transfers) {
    if (t.state === 'done') {
      const declined = t.filesDeclined === undefined ? '' : `; it declined ${t.filesDeclined}`;
      ctx.out(
        `  ${safe(t.peer.name)}: sent ${t.filesDone} file${t.filesDone === 1 ? '' : 's'} (${bytes(t.bytesDone)}), verified${declined}. Transfer ${t.id}.`,
      );
    } else {
      const e = t.error;
      ctx.err(
        `  ${safe(t.peer.name)}: ${t.state}${e ? `: ${safe(e.message)} [${e.code}]` : ''} (${t.filesDone} of ${t.filesTotal} files arrived). Transfer ${t.id}.`,
      );
    }
  }
  const done = r.transfers.filter((t) => t.state === 'done' && t.filesDeclined === undefined).length;
  const line = `${done} of ${r.transfers.length} peers got every file.`;
  if (r.outcome === 'done') ctx.out(line);
  else ctx.err(`p2pd: ${line}${r.outcome === 'partial' ? ' [SEND_PARTIAL]' : ' [SEND_ALL_FAILED]'}`);
}
