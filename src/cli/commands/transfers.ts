/** `p2pd send`, `p2pd status` and `p2pd cancel`. */
import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { ERROR_CODES, EXIT, P2pdError, isErrorCode } from '../../errors.js';
import type { SendResultView, StatusView } from '../../control/api.js';
import type { TransferView } from '../../control/views.js';
import type { SendParams, SendWarningView } from '../../control/methods.js';
import type { CliContext } from '../context.js';
import { ago, bytes, duration, rate, safe, table } from '../format.js';
import { ProgressBar } from '../progress-bar.js';

/** What a send to a LocalSend device may need beyond the files (docs/LOCALSEND.md). */
export interface LocalSendFlags {
  pin?: string;
  allowHttp?: boolean;
}

export async function sendCommand(ctx: CliContext, peer: string, paths: string[], detach: boolean, queue = false, ls: LocalSendFlags = {}): Promise<number> {
  if (paths.length === 0) throw new P2pdError('USAGE', 'name at least one file or directory to send');
  const absolute = paths.map((p) => resolve(ctx.deps.cwd, p));
  const params: SendParams = { peer, paths: absolute, detach, queue, ...lsParams(ls) };
  // A detached send answers before any device is reached: say now what --allow-http lets happen.
  if (detach && ls.allowHttp === true) {
    ctx.err('p2pd: warning: --allow-http: if the device speaks plain HTTP, the files cross the LAN unencrypted and nothing proves who receives them.');
  }
  let result = await requestSend(ctx, params);
  // A LocalSend device that asks for a PIN: a person at a terminal is asked, once.
  const stdin = ctx.deps.stdin;
  if (!detach && ls.pin === undefined && result.transfer.error?.code === 'PIN_REQUIRED' && stdin?.isTTY === true && !ctx.json) {
    const rl = createInterface({ input: stdin, output: ctx.deps.stderr as unknown as NodeJS.WritableStream });
    const pin = (await rl.question(`${safe(result.transfer.peer.name)} asks for a PIN: `)).trim();
    rl.close();
    if (pin !== '') result = await requestSend(ctx, { ...params, pin });
  }
  for (const s of result.skipped) ctx.err(`skipped ${safe(s.path)}: ${s.reason}`);
  const t = result.transfer;
  if (ctx.json) {
    ctx.printJson(result);
  } else if (detach) {
    ctx.out(`Queued transfer ${t.id} to ${safe(t.peer.name)}; follow it with \`p2pd status\`, stop it with \`p2pd cancel ${t.id}\`.`);
  } else {
    printOutcome(ctx, t);
  }
  if (detach) return EXIT.OK;
  return transferExit(t);
}

function lsParams(ls: LocalSendFlags): Pick<SendParams, 'pin' | 'allowHttp'> {
  return { ...(ls.pin === undefined ? {} : { pin: ls.pin }), ...(ls.allowHttp === true ? { allowHttp: true } : {}) };
}

/** One `send` request, its progress drawn on stderr; Ctrl-C hangs up, which cancels the transfer. */
async function requestSend(ctx: CliContext, params: SendParams): Promise<SendResultView> {
  const bar = new ProgressBar(ctx.deps.stderr, { enabled: !ctx.json });
  // Ctrl-C hangs up on the daemon, which cancels a foreground send: say so on a line of its own.
  const interrupted = new AbortController();
  const release = params.detach === true ? undefined : ctx.deps.onInterrupt?.(() => interrupted.abort());
  let last: TransferView | undefined;
  try {
    return await ctx.client().request<SendResultView>(
      'send',
      { ...params },
      {
        signal: interrupted.signal,
        connectTimeoutMs: 5000,
        onEvent: (event, data) => {
          if (event === 'warning') {
            bar.end();
            ctx.err(`p2pd: warning: ${safe((data as SendWarningView).message)}`);
          }
          if (event !== 'progress') return;
          last = data as TransferView;
          bar.update(last);
        },
      },
    );
  } catch (err) {
    if (!interrupted.signal.aborted) throw err;
    bar.end();
    throw interruptedError(last);
  } finally {
    release?.();
    bar.done();
  }
}

function interruptedError(t: TransferView | undefined): P2pdError {
  const what = t === undefined ? 'the send is cancelled' : `transfer ${t.id} to ${safe(t.peer.name)} is cancelled`;
  return new P2pdError(
    'TRANSFER_CANCELLED',
    `interrupted: ${what}: a \`p2pd send\` that is interrupted cancels its transfer. To leave a transfer running after the command returns, send with --detach.`,
    t === undefined ? {} : { details: { id: t.id } },
  );
}

function printOutcome(ctx: CliContext, t: TransferView): void {
  const secs = (Date.parse(t.endedAt ?? new Date().toISOString()) - Date.parse(t.startedAt)) / 1000;
  if (t.state === 'done') {
    const of = t.filesDeclined === undefined ? '' : ` of ${t.filesDone + t.filesDeclined}`;
    // A LocalSend device (its id is a certificate fingerprint) confirms each upload, not a hash.
    const localsend = t.peer.id !== null && /^[0-9A-F]{64}$/.test(t.peer.id);
    const check = localsend ? 'every upload accepted by the LocalSend device' : `every file ${of === '' ? '' : 'sent was '}verified by SHA-256`;
    ctx.out(
      `Sent ${t.filesDone}${of} file${t.filesDone === 1 && of === '' ? '' : 's'} (${bytes(t.bytesDone)}) to ${safe(t.peer.name)} in ${duration(secs)}` +
        `${t.bytesPerSecond > 0 ? ` at ${rate(t.bytesPerSecond)}` : ''}; ${check}. Transfer ${t.id}.`,
    );
    if (t.filesDeclined !== undefined) {
      ctx.err(
        `p2pd: ${safe(t.peer.name)} declined ${t.filesDeclined} file${t.filesDeclined === 1 ? '' : 's'} (skipped by a person there, or a name it cannot save):`,
      );
      for (const f of t.files ?? []) if (!f.ok) ctx.err(`  ${safe(f.path)}: ${f.error?.code ?? 'declined'}: ${safe(f.error?.message ?? '')}`);
    }
    return;
  }
  for (const f of t.files ?? []) {
    if (!f.ok) ctx.err(`  ${safe(f.path)}: ${f.error?.code ?? 'failed'}: ${safe(f.error?.message ?? '')}`);
  }
  const e = t.error;
  ctx.err(`p2pd: transfer ${t.id} to ${safe(t.peer.name)} ${t.state}${e ? `: ${safe(e.message)} [${e.code}]` : ''}`);
  if (t.filesDone > 0) ctx.err(`  ${t.filesDone} of ${t.filesTotal} files did arrive verified.`);
}

function transferExit(t: TransferView): number {
  // Declined files were not delivered: a script must not take the send for complete.
  if (t.state === 'done') return t.filesDeclined === undefined ? EXIT.OK : EXIT.PARTIAL;
  const code = t.error?.code;
  if (code === 'TRANSFER_FAILED') {
    const first = t.files?.find((f) => !f.ok)?.error?.code;
    return first !== undefined && isErrorCode(first) ? ERROR_CODES[first].exit : EXIT.FAILURE;
  }
  return code !== undefined && isErrorCode(code) ? ERROR_CODES[code].exit : EXIT.FAILURE;
}

export async function statusCommand(ctx: CliContext): Promise<number> {
  const s = await ctx.client().request<StatusView>('status');
  if (ctx.json) {
    ctx.printJson(s);
    return 0;
  }
  const d = s.daemon;
  ctx.out(
    `${safe(d.name)} (${d.id.slice(0, 7)}) p2pd ${d.version}, up ${duration(d.uptimeSeconds)}, port ${d.port}, ${d.peersOnline} peer${d.peersOnline === 1 ? '' : 's'} online`,
  );
  ctx.out(`inbox ${d.inbox}`);
  if (s.outbox.length > 0) {
    ctx.out('');
    ctx.out(
      table(
        ['OUTBOX', 'TO', 'STATE', 'SIZE', 'TRIES', 'LAST ERROR'],
        s.outbox.map((o) => [safe(o.path), safe(o.peer) + membersText(o), o.state, bytes(o.bytes), String(o.attempts), o.lastError ? o.lastError.code : '-']),
      ),
    );
  }
  if (s.transfers.length === 0) {
    ctx.out('No transfers yet.');
    return 0;
  }
  ctx.out('');
  ctx.out(
    table(
      ['ID', 'DIR', 'PEER', 'STATE', 'FILES', 'BYTES', 'RATE', 'STARTED'],
      s.transfers.map((t) => [
        t.id,
        t.direction === 'out' ? 'to' : 'from',
        // A send nobody typed is marked: it came from the outbox.
        t.origin === 'outbox' ? `${safe(t.peer.name)} (outbox)` : safe(t.peer.name),
        stateText(t),
        `${t.filesDone}/${t.filesTotal}`,
        `${bytes(t.bytesDone)}/${bytes(t.bytesTotal)}`,
        t.bytesPerSecond > 0 ? rate(t.bytesPerSecond) : '-',
        ago(t.startedAt),
      ]),
    ),
  );
  return 0;
}

/** A group item's members: how many have it, e.g. " (1/3 have it)". */
function membersText(o: StatusView['outbox'][number]): string {
  if (o.members === undefined) return '';
  return ` (${o.members.filter((m) => m.state === 'done').length}/${o.members.length} have it)`;
}

function stateText(t: TransferView): string {
  const declined = t.filesDeclined === undefined ? '' : `, ${t.filesDeclined} declined`;
  const resumed = t.resumedFrom > 0 && t.bytesTotal > 0 ? `, resumed at ${Math.floor((100 * t.resumedFrom) / t.bytesTotal)} %` : '';
  const notes = `${declined}${resumed}`;
  const why = t.error !== null ? ` (${t.error.code}${notes})` : notes !== '' ? ` (${notes.slice(2)})` : '';
  return `${t.state}${why}`;
}

export async function cancelCommand(ctx: CliContext, id: string): Promise<number> {
  const r = await ctx.client().request<{ transfer: TransferView }>('cancel', { id });
  if (ctx.json) ctx.printJson(r);
  else ctx.out(`Cancelling transfer ${r.transfer.id} (${r.transfer.direction === 'out' ? 'to' : 'from'} ${safe(r.transfer.peer.name)}).`);
  return 0;
}
