/**
 * The control socket's request/response protocol, shared by the daemon's server and the CLI's
 * client: newline-delimited JSON over a Unix socket. docs/CONTROL.md documents it; the views
 * (views.ts) are the stable `--json` interface, the method table is in methods.ts.
 */
export * from './views.js';
export type { SendParams } from './methods.js';

export const CONTROL_API_VERSION = 1;
/** Longest line either side accepts; a longer one is a broken or hostile client. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

export interface ControlRequest {
  id: number;
  method: string;
  params?: Record<string, unknown>;
}

export type ControlResponse =
  | { id: number; result: unknown }
  | { id: number; error: { code: string; message: string; details?: Record<string, unknown> } }
  | { id: number; event: string; data: unknown };

/** Splits a byte stream into lines, refusing over-long ones. */
export class LineSplitter {
  #buffered: Buffer[] = [];
  #size = 0;
  readonly #max: number;

  constructor(maxLineBytes: number = MAX_LINE_BYTES) {
    this.#max = maxLineBytes;
  }

  /** Bytes of the unfinished line held. */
  get buffered(): number {
    return this.#size;
  }

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const part = chunk.subarray(start, nl);
      const line = this.#size === 0 ? part : Buffer.concat([...this.#buffered, part]);
      this.#buffered = [];
      this.#size = 0;
      lines.push(line.toString('utf8'));
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#buffered.push(chunk.subarray(start));
      this.#size += chunk.length - start;
      if (this.#size > this.#max) throw new Error('control line too long');
    }
    return lines;
  }
}
