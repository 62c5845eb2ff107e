/** Warnings about a lasting condition, logged once while it lasts and again if it comes back. */
export class WarnOnce {
  /** Keys of conditions already warned about ("stray:<name>", "unsupported:<peer/name>", ...). */
  readonly #warned = new Set<string>();

  once(key: string, warn: () => void): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    warn();
  }

  /** The condition went away: warn again if it returns. */
  forget(key: string): void {
    this.#warned.delete(key);
  }

  /** Forgets every condition for which `stillThere` is false. */
  keepOnly(stillThere: (key: string) => boolean): void {
    for (const key of this.#warned) if (!stillThere(key)) this.#warned.delete(key);
  }
}
