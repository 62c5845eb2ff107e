/**
 * `p2pd send` transfers that outlive the daemon: each is written to state when it starts and
 * removed when it ends, so a send that was queued or running when the daemon stopped (or was
 * killed) starts again after the restart, resuming where the receiver kept its data.
 */
import { toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SmallFileReader } from '../store/small-file-reader.js';
import { scanLocalPaths, type LocalSource, type ScanOptions } from '../store/local-source.js';
import type { StateStore } from '../store/state.js';
import type { TransferManager } from '../transfer/manager.js';
import type { TransferRecord } from '../transfer/records.js';

export class SendQueue {
  readonly #manager: TransferManager;
  readonly #state: StateStore;
  readonly #log: Logger;
  readonly #scan: ScanOptions;

  /** `protect`: paths never sent (the daemon's own state and partial files); `reader`: reads small files whole on a thread. */
  constructor(
    deps: { manager: TransferManager; state: StateStore; logger: Logger; reader?: SmallFileReader },
    options: { protect: readonly string[] } = { protect: [] },
  ) {
    this.#manager = deps.manager;
    this.#state = deps.state;
    this.#log = deps.logger;
    this.#scan = { protect: options.protect, ...(deps.reader === undefined ? {} : { reader: deps.reader }) };
  }

  /** Starts a send of `paths` (absolute) to `peer` and keeps it in the state until it ends. */
  async start(
    peer: string,
    paths: string[],
    options: { signal?: AbortSignal; id?: string; retry?: 'connected' | 'always' } = {},
  ): Promise<{ id: string; done: Promise<TransferRecord>; source: LocalSource }> {
    const scan = this.#scan;
    const source = await scanLocalPaths(paths, options.signal === undefined ? scan : { ...scan, signal: options.signal });
    const started = this.#manager.send({
      peer,
      source,
      rescan: (signal) => scanLocalPaths(paths, { ...scan, signal }),
      retry: options.retry ?? 'connected',
      ...(options.id === undefined ? {} : { id: options.id }),
    });
    this.#state.enqueue({ id: started.id, peer, paths, createdAt: new Date().toISOString() });
    void started.done.then((view) => {
      // Only a send cut short by the shutdown stays queued for the next start.
      if (!(view.state === 'cancelled' && this.#manager.stopping)) this.#state.dequeue(started.id);
    });
    return { ...started, source };
  }

  /** Starts again every send a previous run left unfinished. */
  async restore(): Promise<number> {
    const queued = this.#state.queued();
    for (const q of queued) {
      try {
        // A send that was under way before the restart waits for its peer to come back.
        await this.start(q.peer, q.paths, { id: q.id, retry: 'always' });
        this.#log.info({ transfer: q.id, peer: q.peer }, 'resuming a send queued before the restart');
      } catch (err) {
        const e = toP2pdError(err);
        this.#state.dequeue(q.id);
        this.#log.warn({ transfer: q.id, code: e.code, err: e.message }, 'a queued send cannot be restarted');
      }
    }
    return queued.length;
  }
}
