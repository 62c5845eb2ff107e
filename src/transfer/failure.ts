/**
 * A transfer's failure, raced against each of its steps. `Promise.race` against a promise that
 * stays pending leaves a reaction on it per call until it settles: one per file, kept for the
 * whole of a send of many files (about 300 bytes each, measured on 50,000 files). Here a step's
 * listener goes as soon as the step settles.
 */
export class Failure {
  #failed: { error: unknown } | undefined;
  readonly #listeners = new Set<(error: unknown) => void>();

  /** Steps still racing (tests). */
  get racing(): number {
    return this.#listeners.size;
  }

  /** Fails every step racing now and every one raced from now on; only the first call counts. */
  fail(error: unknown): void {
    if (this.#failed !== undefined) return;
    this.#failed = { error };
    for (const listener of this.#listeners) listener(error);
    this.#listeners.clear();
  }

  /** `step`'s outcome, or the failure if it comes first. */
  race<T>(step: Promise<T>): Promise<T> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed.error);
    return new Promise<T>((resolve, reject) => {
      this.#listeners.add(reject);
      step.then(
        (value) => {
          this.#listeners.delete(reject);
          resolve(value);
        },
        (err: unknown) => {
          this.#listeners.delete(reject);
          reject(err);
        },
      );
    });
  }
}
