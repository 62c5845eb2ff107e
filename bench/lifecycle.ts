import { setMaxListeners } from 'node:events';

/**
 * Everything the bench starts is registered here so that it is stopped and removed on every way
 * out: success, an error, Ctrl-C / SIGTERM, or the overall time limit. One root AbortController;
 * each step combines its signal with a timeout of its own.
 */

type Cleanup = { what: string; run: () => Promise<void> | void };

/** How long one cleanup step may take before the next one runs anyway. */
const CLEANUP_STEP_MS = 20_000;

export class Lifecycle {
  readonly #controller = new AbortController();
  readonly #cleanups: Cleanup[] = [];
  /** Pids of processes still running; SIGKILLed if the bench exits before cleaning up. */
  readonly #pids = new Set<number>();
  /** Synchronous removals (temp directories) for an exit without cleanup: a second Ctrl-C. */
  readonly #atExit: Array<() => void> = [];
  readonly #log: (msg: string) => void;
  #deadline: NodeJS.Timeout | undefined;
  #signals = 0;
  #cleaning: Promise<void> | undefined;

  constructor(log: (msg: string) => void) {
    this.#log = log;
    // Every step listens on the root until its own time limit passes: a few dozen in one run.
    setMaxListeners(1000, this.#controller.signal);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /**
   * A signal for one step: aborted with the root, or after `ms`. Not AbortSignal.any() with
   * AbortSignal.timeout(): on Node 20 the composite holds its sources weakly, a garbage collection
   * takes the timeout signal and the step never times out (seen here while moving 1 GiB).
   */
  step(ms: number): AbortSignal {
    const root = this.#controller.signal;
    const step = new AbortController();
    if (root.aborted) {
      step.abort(root.reason);
      return step.signal;
    }
    const onRoot = (): void => step.abort(root.reason);
    root.addEventListener('abort', onRoot, { once: true });
    const timer = setTimeout(() => step.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms);
    timer.unref();
    step.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      root.removeEventListener('abort', onRoot);
    });
    return step.signal;
  }

  /** Whether Ctrl-C or SIGTERM stopped the run. */
  get interrupted(): boolean {
    return this.#signals > 0;
  }

  abort(reason: Error): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }

  /** Runs `run` at cleanup, in reverse order of registration. Returns a function that unregisters it. */
  defer(what: string, run: () => Promise<void> | void): () => void {
    const entry = { what, run };
    if (this.#cleaning !== undefined) {
      // Registered while or after cleaning up (a step that ignored the abort): undo it at once.
      void Promise.resolve()
        .then(run)
        .catch((err: unknown) => this.#log(`cleanup: ${what}: ${(err as Error).message}`));
      return () => undefined;
    }
    this.#cleanups.push(entry);
    return () => {
      const i = this.#cleanups.indexOf(entry);
      if (i >= 0) this.#cleanups.splice(i, 1);
    };
  }

  /**
   * Runs `fn` (synchronous, best effort) when the process exits, after the last-resort kill: what a
   * second Ctrl-C would otherwise leave behind. Harmless when cleanup() already did the same.
   */
  atExit(fn: () => void): void {
    this.#atExit.push(fn);
  }

  trackPid(pid: number | undefined): void {
    if (pid !== undefined) this.#pids.add(pid);
  }

  untrackPid(pid: number | undefined): void {
    if (pid !== undefined) this.#pids.delete(pid);
  }

  /** Ctrl-C and SIGTERM abort the run (cleanup follows); a second one kills what is left and exits. */
  install(timeoutSeconds: number): void {
    const onSignal = (sig: NodeJS.Signals): void => {
      this.#signals++;
      if (this.#signals === 1) {
        this.#log(`${sig}: stopping and cleaning up (press Ctrl-C again to kill everything at once)`);
        this.abort(new Error(`interrupted by ${sig}`));
        return;
      }
      this.killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('exit', () => {
      this.killAll();
      for (const fn of this.#atExit.reverse()) {
        try {
          fn();
        } catch {
          // best effort: the process is going away
        }
      }
    });
    this.#deadline = setTimeout(() => {
      this.#log(`the bench took more than ${timeoutSeconds} s: stopping everything`);
      this.abort(new Error(`the bench took more than ${timeoutSeconds} s (raise it with --timeout)`));
    }, timeoutSeconds * 1000);
    this.#deadline.unref();
  }

  /** SIGKILL to every process still registered (the last resort; cleanup() is the normal way). */
  killAll(): void {
    for (const pid of this.#pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.#pids.clear();
  }

  cleanup(): Promise<void> {
    this.#cleaning ??= this.#cleanup();
    return this.#cleaning;
  }

  async #cleanup(): Promise<void> {
    clearTimeout(this.#deadline);
    while (this.#cleanups.length > 0) {
      const { what, run } = this.#cleanups.pop()!;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(run),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('took too long')), CLEANUP_STEP_MS);
          }),
        ]);
      } catch (err) {
        this.#log(`cleanup: ${what}: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
    this.killAll();
  }
}
