/** A one-line progress display on a terminal; silent when stderr is not a terminal. */
import type { TransferView } from '../control/views.js';
import type { OutStream } from './context.js';
import { bytes, duration, rate, safe } from './format.js';

const PHASE_TEXT: Record<string, string> = {
  queued: 'queued',
  connecting: 'connecting to',
  waiting: 'waiting for',
  sending: 'sending to',
  receiving: 'receiving from',
  verifying: 'verifying at',
  retrying: 'will retry',
};

export class ProgressBar {
  readonly #out: OutStream;
  readonly #enabled: boolean;
  #last = 0;
  #drawn = false;
  #lastState = '';

  constructor(out: OutStream, options: { enabled?: boolean } = {}) {
    this.#out = out;
    this.#enabled = out.isTTY === true && options.enabled !== false;
  }

  update(v: TransferView, force = false): void {
    if (!this.#enabled) return;
    const now = Date.now();
    // A change of state (waiting, retrying) is always drawn: it may be the last event for a while.
    const changed = v.state !== this.#lastState;
    this.#lastState = v.state;
    if (!force && !changed && now - this.#last < 100) return;
    this.#last = now;
    const cols = this.#out.columns !== undefined && this.#out.columns > 20 ? this.#out.columns : 80;
    const width = cols >= 110 ? 30 : cols >= 90 ? 20 : 10;
    const frac = v.bytesTotal > 0 ? Math.min(1, v.bytesDone / v.bytesTotal) : v.state === 'done' ? 1 : 0;
    const filled = Math.round(frac * width);
    const bar = `${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}`;
    const eta = v.bytesPerSecond > 0 ? duration((v.bytesTotal - v.bytesDone) / v.bytesPerSecond) : '';
    const phase = PHASE_TEXT[v.state] ?? v.state;
    const who =
      v.state === 'waiting'
        ? `${safe(v.peer.name)} to accept`
        : v.state === 'retrying'
          ? `${safe(v.peer.name)}${v.nextAttemptAt ? ` in ${duration(Math.max(0, (Date.parse(v.nextAttemptAt) - Date.now()) / 1000))}` : ''} (${v.error?.code ?? 'interrupted'}, attempt ${v.attempts})`
          : v.resumedFrom > 0 && v.bytesTotal > 0
            ? `${safe(v.peer.name)} (resumed at ${Math.floor((100 * v.resumedFrom) / v.bytesTotal)} %)`
            : safe(v.peer.name);
    // The peer's name comes first so that a narrow terminal cuts the least useful parts.
    const parts = [
      `${phase} ${who}`,
      `[${bar}] ${String(Math.floor(frac * 100)).padStart(3)}%`,
      `${bytes(v.bytesDone)}/${bytes(v.bytesTotal)}`,
      v.bytesPerSecond > 0 ? rate(v.bytesPerSecond) : '',
      eta ? `ETA ${eta}` : '',
      v.filesTotal > 1 ? `${v.filesDone}/${v.filesTotal} files` : '',
    ].filter((p) => p !== '');
    let text = parts.join('  ');
    while (text.length > cols - 1 && parts.length > 2) {
      parts.pop();
      text = parts.join('  ');
    }
    this.#out.write(`\r\x1b[2K${text.slice(0, cols - 1)}`);
    this.#drawn = true;
  }

  /** Leaves the last state drawn on its own line (after Ctrl-C: it shows how far the send got). */
  end(): void {
    if (this.#drawn) this.#out.write('\n');
    this.#drawn = false;
  }

  done(): void {
    if (this.#drawn) this.#out.write('\r\x1b[2K');
    this.#drawn = false;
  }
}
