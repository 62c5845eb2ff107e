/** A one-line progress display on a terminal; silent when stderr is not a terminal. */
import type { TransferView } from '../transfer/manager.js';
import type { OutStream } from './context.js';
import { bytes, duration, rate, safe } from './format.js';

const PHASE_TEXT: Record<string, string> = {
  queued: 'queued',
  connecting: 'connecting to',
  waiting: 'waiting for',
  sending: 'sending to',
  receiving: 'receiving from',
  verifying: 'verifying at',
};

export class ProgressBar {
  readonly #out: OutStream;
  readonly #enabled: boolean;
  #last = 0;
  #drawn = false;

  constructor(out: OutStream) {
    this.#out = out;
    this.#enabled = out.isTTY === true;
  }

  update(v: TransferView, force = false): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const width = Math.max(10, Math.min(30, (this.#out.columns ?? 80) - 60));
    const frac = v.bytesTotal > 0 ? Math.min(1, v.bytesDone / v.bytesTotal) : v.state === 'done' ? 1 : 0;
    const filled = Math.round(frac * width);
    const bar = `${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}`;
    const eta = v.bytesPerSecond > 0 ? duration((v.bytesTotal - v.bytesDone) / v.bytesPerSecond) : '';
    const phase = PHASE_TEXT[v.state] ?? v.state;
    const text =
      `[${bar}] ${String(Math.floor(frac * 100)).padStart(3)}%  ${bytes(v.bytesDone)}/${bytes(v.bytesTotal)}` +
      `  ${v.filesDone}/${v.filesTotal} files  ${v.bytesPerSecond > 0 ? rate(v.bytesPerSecond) : ''}${eta ? `  ETA ${eta}` : ''}  ${phase} ${safe(v.peer.name)}`;
    const cols = this.#out.columns ?? 100;
    this.#out.write(`\r\x1b[2K${text.slice(0, cols - 1)}`);
    this.#drawn = true;
  }

  done(): void {
    if (this.#drawn) this.#out.write('\r\x1b[2K');
    this.#drawn = false;
  }
}
