/**
 * New connections per address per minute, counted in a sliding window of one-second buckets.
 * Bounded memory: addresses idle for a minute are forgotten, and at most MAX_ADDRESSES are kept.
 */
const WINDOW_MS = 60_000;
const MAX_ADDRESSES = 10_000;

export class ConnectionRateLimiter {
  readonly #limit: number;
  readonly #now: () => number;
  readonly #seen = new Map<string, number[]>();

  constructor(options: { perMinute: number; now?: () => number }) {
    this.#limit = options.perMinute;
    this.#now = options.now ?? Date.now;
  }

  /** Records a connection from `address`; false if it is over the limit. */
  admit(address: string): boolean {
    const now = this.#now();
    const times = (this.#seen.get(address) ?? []).filter((t) => now - t < WINDOW_MS);
    if (times.length >= this.#limit) {
      this.#seen.set(address, times);
      return false;
    }
    times.push(now);
    this.#seen.delete(address);
    this.#seen.set(address, times);
    if (this.#seen.size > MAX_ADDRESSES) {
      // Map keeps insertion order and we re-insert on use: the first key is the least recent.
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    return true;
  }
}
