/**
 * Progress of a send to several peers: one line per peer and a total line, redrawn in place on a
 * terminal; silent when stderr is not a terminal (as ProgressBar).
 */
import type { TransferView } from '../control/views.js';
import type { OutStream } from './context.js';
import { bytes, rate } from './format.js';
import { progressText } from './progress-bar.js';

export class MultiProgress {
  readonly #out: OutStream;
  readonly #enabled: boolean;
  /** In the order the peers' transfers were first seen. */
  readonly #views = new Map<string, TransferView>();
  #lines = 0;
  #last = 0;

  constructor(out: OutStream, options: { enabled?: boolean } = {}) {
    this.#out = out;
    this.#enabled = out.isTTY === true && options.enabled !== false;
  }

  update(v: TransferView): void {
    const before = this.#views.get(v.id);
    this.#views.set(v.id, v);
    if (!this.#enabled) return;
    const now = Date.now();
    if (before !== undefined && before.state === v.state && now - this.#last < 100) return;
    this.#last = now;
    this.#draw();
  }

  /** The total line: bytes of every peer together, and how many peers are done. */
  static totalText(views: readonly TransferView[]): string {
    const done = views.filter((v) => v.state === 'done').length;
    const failed = views.filter((v) => v.state === 'failed' || v.state === 'cancelled').length;
    const sent = views.reduce((n, v) => n + v.bytesDone, 0);
    const total = views.reduce((n, v) => n + v.bytesTotal, 0);
    const speed = views.reduce((n, v) => n + (v.state === 'done' ? 0 : v.bytesPerSecond), 0);
    const pct = total > 0 ? Math.floor((100 * sent) / total) : 0;
    return [
      `total: ${done}/${views.length} peers done${failed > 0 ? `, ${failed} failed` : ''}`,
      `${String(pct).padStart(3)}%`,
      `${bytes(sent)}/${bytes(total)}`,
      speed > 0 ? rate(speed) : '',
    ]
      .filter((p) => p !== '')
      .join('  ');
  }

  #draw(): void {
    const cols = this.#out.columns !== undefined && this.#out.columns > 20 ? this.#out.columns : 80;
    const views = [...this.#views.values()];
    const lines = [...views.map((v) => progressText(v, cols)), MultiProgress.totalText(views).slice(0, cols - 1)];
    // Back to the first line drawn, then every line again (cleared first: a line may have shrunk).
    let text = this.#lines > 0 ? `\r\x1b[${this.#lines}A` : '\r';
    for (const line of lines) text += `\x1b[2K${line}\n`;
    this.#out.write(text);
    this.#lines = lines.length;
  }

  /** Clears the lines drawn so that the outcome is printed in their place. */
  done(): void {
    if (this.#lines > 0) this.#out.write(`\r\x1b[${this.#lines}A\x1b[0J`);
    this.#lines = 0;
  }
}
