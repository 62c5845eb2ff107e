/** Two connected in-memory Duplex streams (Node 20 has no stream.duplexPair). */
import { Duplex } from 'node:stream';

export function duplexPair(): [Duplex, Duplex] {
  class Side extends Duplex {
    other!: Side;
    override _read(): void {
      this.other.resumeWriter();
    }
    #pending: (() => void) | undefined;
    resumeWriter(): void {
      const cb = this.#pending;
      this.#pending = undefined;
      cb?.();
    }
    override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
      // Hand the chunk over; wait for the reader to ask for more when its buffer is full.
      if (this.other.push(chunk)) cb();
      else this.#pending = cb;
    }
    override _final(cb: (err?: Error | null) => void): void {
      this.other.push(null);
      cb();
    }
    override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
      if (!this.other.destroyed) this.other.destroy();
      cb(err);
    }
  }
  const a = new Side({ highWaterMark: 256 * 1024 });
  const b = new Side({ highWaterMark: 256 * 1024 });
  a.other = b;
  b.other = a;
  return [a, b];
}
