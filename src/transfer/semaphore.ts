/** A counting semaphore whose waiters can give up through an AbortSignal. */
export class Semaphore {
  #free: number;
  readonly #waiters: Array<() => void> = [];

  constructor(capacity: number) {
    this.#free = capacity;
  }

  /** Resolves with a release function once a slot is free. */
  acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    const release = once(() => {
      const next = this.#waiters.shift();
      if (next !== undefined) next();
      else this.#free++;
    });
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(release);
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(grant);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal.reason);
      };
      this.#waiters.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function once(fn: () => void): () => void {
  let called = false;
  return () => {
    if (called) return;
    called = true;
    fn();
  };
}
