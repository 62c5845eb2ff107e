/**
 * The daemon's own state under stateDir, kept with `conf`: trusted peers and transfer history.
 * conf writes atomically (temporary file, then rename), so a kill at any moment leaves either the
 * old or the new file. A damaged file is set aside, reported, and the daemon starts afresh.
 */
import { renameSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Conf from 'conf';
import { P2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { HistoryStore, TransferView } from '../transfer/manager.js';

export interface TrustedPeer {
  id: string;
  /** The name the user knows the peer by (the name it had when trusted). */
  name: string;
  trustedAt: string;
}

/** A send that has not ended yet, kept so that it survives a restart of the daemon. */
export interface QueuedSend {
  id: string;
  /** What the user typed for the peer. */
  peer: string;
  /** Absolute paths. */
  paths: string[];
  createdAt: string;
}

interface StateShape {
  trusted: Record<string, TrustedPeer>;
  history: TransferView[];
  queue: QueuedSend[];
}

export class StateStore implements HistoryStore {
  readonly #conf: Conf<StateShape>;
  readonly #historySize: number;

  constructor(deps: { logger: Logger }, options: { dir: string; historySize: number }) {
    this.#historySize = options.historySize;
    const make = (): Conf<StateShape> =>
      new Conf<StateShape>({
        cwd: options.dir,
        configName: 'state',
        projectName: 'p2pd',
        defaults: { trusted: {}, history: [], queue: [] },
        configFileMode: 0o600,
        accessPropertiesByDotNotation: false,
        clearInvalidConfig: false,
      });
    try {
      this.#conf = make();
      this.#check();
    } catch (err) {
      const file = join(options.dir, 'state.json');
      const aside = `${file}.corrupt-${Date.now()}`;
      if (existsSync(file)) renameSync(file, aside);
      const e = new P2pdError('STATE_CORRUPT', `${file} was damaged; it was moved to ${aside} and the daemon starts with no trusted peers and no history`, {
        cause: err,
        details: { file, aside },
      });
      deps.logger.error({ code: e.code, err: (err as Error).message }, e.message);
      this.#conf = make();
    }
  }

  #check(): void {
    const trusted = this.#conf.get('trusted');
    const history = this.#conf.get('history');
    if (typeof trusted !== 'object' || trusted === null || Array.isArray(trusted) || !Array.isArray(history)) {
      throw new Error('state.json has the wrong shape');
    }
  }

  get path(): string {
    return this.#conf.path;
  }

  trusted(): TrustedPeer[] {
    return Object.values(this.#conf.get('trusted'));
  }

  getTrusted(id: string): TrustedPeer | undefined {
    return this.#conf.get('trusted')[id];
  }

  trust(peer: { id: string; name: string }): TrustedPeer {
    const all = { ...this.#conf.get('trusted') };
    const old = all[peer.id];
    const record: TrustedPeer = old === undefined ? { id: peer.id, name: peer.name, trustedAt: new Date().toISOString() } : { ...old, name: peer.name };
    all[peer.id] = record;
    this.#conf.set('trusted', all);
    return record;
  }

  untrust(id: string): boolean {
    const all = { ...this.#conf.get('trusted') };
    if (all[id] === undefined) return false;
    delete all[id];
    this.#conf.set('trusted', all);
    return true;
  }

  add(view: TransferView): void {
    if (this.#historySize === 0) return;
    // Keep the history file small: of a finished transfer's files, only a few failures are kept.
    const failures = (view.files ?? []).filter((f) => !f.ok).slice(0, 20);
    const slim: TransferView = { ...view, files: failures };
    if (failures.length === 0) delete slim.files;
    const history = [slim, ...this.#conf.get('history').filter((v) => v.id !== view.id)].slice(0, this.#historySize);
    this.#conf.set('history', history);
  }

  list(): TransferView[] {
    return this.#conf.get('history');
  }

  queued(): QueuedSend[] {
    const q = this.#conf.get('queue');
    return Array.isArray(q) ? q : [];
  }

  enqueue(entry: QueuedSend): void {
    this.#conf.set('queue', [...this.queued().filter((e) => e.id !== entry.id), entry]);
  }

  dequeue(id: string): void {
    const q = this.queued();
    if (q.some((e) => e.id === id)) this.#conf.set('queue', q.filter((e) => e.id !== id));
  }

  /** Drops finished transfers that ended (or started) more than `olderThanMs` ago; returns how many. */
  prune(options: { olderThanMs: number; now?: number }): number {
    const cutoff = (options.now ?? Date.now()) - options.olderThanMs;
    const history = this.#conf.get('history');
    const kept = history.filter((v) => Date.parse(v.endedAt ?? v.startedAt) >= cutoff);
    if (kept.length !== history.length) this.#conf.set('history', kept);
    return history.length - kept.length;
  }
}
