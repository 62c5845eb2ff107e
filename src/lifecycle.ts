/**
 * The one shape of every long-lived part, and the runner that starts parts in a declared order
 * and stops them in another. Kept apart from daemon/ so that parts can name the shape without
 * importing the composition root.
 */
import { P2pdError } from './errors.js';

/** A part with a start and a stop. */
export interface Lifecycle {
  /**
   * Starts the part. A start that throws must leave nothing running: the runner does not call
   * stop() for it (stopping a control socket that failed because another daemon holds it would
   * delete that daemon's socket). Aborting `signal` means the daemon is going away.
   */
  start(options: { signal: AbortSignal }): Promise<unknown>;
  /** Stops the part; safe to call more than once and before start(). */
  stop(): Promise<void>;
}

/** A part the daemon starts and stops, with the name its log lines carry. */
export interface Service extends Lifecycle {
  readonly name: string;
}

/** Gives a part that already has start/stop the name the runner reports it under. */
export function named(name: string, part: Lifecycle): Service {
  return { name, start: (options) => part.start(options), stop: () => part.stop() };
}

/** A part that only needs stopping (it works from construction on). */
export function stopOnly(name: string, stop: () => Promise<void> | void): Service {
  return {
    name,
    start: async () => undefined,
    stop: async () => {
      await stop();
    },
  };
}

export interface ServiceRunnerOptions {
  /** Start order: each part starts after the one before it has started. */
  start: ReadonlyArray<Service | undefined>;
  /**
   * Stop order: the same parts (undefined entries are skipped), in the order they must stop. It
   * need not be the reverse of the start order: the daemon stops new work first so that running
   * work can drain.
   */
  stop: ReadonlyArray<Service | undefined>;
}

export interface ServiceRunnerDeps {
  /** Where a failing stop is reported; stopping goes on with the next part. */
  onStopError: (service: Service, err: unknown) => void;
}

/**
 * Starts services in order and stops the ones that started. If a start fails, the ones already
 * started are stopped (in the stop order) and the error is rethrown. stop() is idempotent; if it
 * is called while start() is under way, it waits for the start in progress to settle, so nothing
 * that was started is missed, and start() then fails.
 */
export class ServiceRunner {
  readonly #deps: ServiceRunnerDeps;
  readonly #start: Service[];
  readonly #stop: Service[];
  readonly #started = new Set<Service>();
  #starting: Promise<unknown> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(deps: ServiceRunnerDeps, options: ServiceRunnerOptions) {
    this.#deps = deps;
    this.#start = options.start.filter((s): s is Service => s !== undefined);
    this.#stop = options.stop.filter((s): s is Service => s !== undefined);
    const missing = this.#start.filter((s) => !this.#stop.includes(s)).map((s) => s.name);
    const extra = this.#stop.filter((s) => !this.#start.includes(s)).map((s) => s.name);
    if (missing.length > 0 || extra.length > 0 || new Set(this.#stop).size !== this.#stop.length) {
      throw new Error(`the stop order must list each started service once (missing: ${missing.join(', ') || '-'}; not started: ${extra.join(', ') || '-'})`);
    }
  }

  /** Names in start order, then in stop order (for logs and tests). */
  get order(): { start: string[]; stop: string[] } {
    return { start: this.#start.map((s) => s.name), stop: this.#stop.map((s) => s.name) };
  }

  async start(options: { signal: AbortSignal }): Promise<void> {
    try {
      for (const service of this.#start) {
        if (this.#stopping !== undefined) throw new P2pdError('DAEMON_NOT_RUNNING', `the daemon was stopped while starting (before ${service.name})`);
        // Marked started before anyone awaiting #starting resumes, so a concurrent stop() sees it.
        const step = (async () => {
          await service.start(options);
          this.#started.add(service);
        })();
        this.#starting = step.catch(() => undefined);
        await step;
      }
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      this.#starting = undefined;
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#starting;
      for (const service of this.#stop) {
        if (!this.#started.delete(service)) continue;
        try {
          await service.stop();
        } catch (err) {
          this.#deps.onStopError(service, err);
        }
      }
    })();
    return this.#stopping;
  }
}
