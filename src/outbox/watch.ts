/**
 * File-system watching for the outbox: one non-recursive fs.watch on the outbox itself (new peer
 * folders) and one on each peer folder (new, changed, removed items). Events carry no meaning
 * here: each one only asks the Outbox for a (debounced) rescan, and the rescan looks for itself.
 *
 * Why not fs.watch(outbox, { recursive: true }): on Linux, Node 20 emulates it in JavaScript,
 * walking the whole tree synchronously on the main thread and holding one inotify watch per file
 * and folder, .sent/ and .failed/ included, which only grow. Nothing below the top of a peer
 * folder needs an event: an item that is settling is polled by the Outbox's stability timer, and
 * every item's signature is checked again just before it is sent and before it is moved away.
 *
 * A watcher that errors (its folder removed, inotify out of watches) is dropped and logged;
 * the next sync, after the next rescan, sets it up again if the folder is back. A folder removed
 * and re-created under the same name is noticed by its inode.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { displayName } from '../store/safe-name.js';

interface Watched {
  readonly watcher: FSWatcher;
  readonly ino: number;
  readonly dev: number;
}

export class FolderWatchers {
  readonly #onEvent: () => void;
  readonly #log: Logger;
  readonly #watched = new Map<string, Watched>();
  /** Folders whose watch failed, so the warning is logged once until it works again. */
  readonly #failed = new Set<string>();
  #closed = false;

  constructor(deps: { onEvent: () => void; logger: Logger }) {
    this.#onEvent = deps.onEvent;
    this.#log = deps.logger;
  }

  /** Watches exactly these folders (absolute paths); others are closed. Returns how many watches are new. */
  async sync(paths: readonly string[]): Promise<number> {
    let added = 0;
    const wanted = new Set(paths);
    for (const [path, w] of this.#watched) {
      if (!wanted.has(path)) this.#drop(path, w);
    }
    for (const path of wanted) {
      if (this.#closed) return added;
      let st;
      try {
        st = await stat(path);
      } catch {
        const old = this.#watched.get(path);
        if (old !== undefined) this.#drop(path, old);
        continue;
      }
      const old = this.#watched.get(path);
      if (old !== undefined && old.ino === st.ino && old.dev === st.dev) continue;
      if (old !== undefined) this.#drop(path, old);
      if (this.#closed) return added;
      if (this.#add(path, st.ino, st.dev)) added++;
    }
    return added;
  }

  close(): void {
    this.#closed = true;
    for (const [path, w] of this.#watched) this.#drop(path, w);
  }

  #add(path: string, ino: number, dev: number): boolean {
    let watcher: FSWatcher;
    try {
      // persistent: false: a watcher alone never keeps the process alive.
      watcher = watch(path, { persistent: false }, () => this.#onEvent());
    } catch (err) {
      this.#warnOnce(path, err);
      return false;
    }
    watcher.on('error', (err) => {
      this.#warnOnce(path, err);
      const current = this.#watched.get(path);
      if (current?.watcher === watcher) this.#drop(path, current);
      else watcher.close();
      this.#onEvent();
    });
    this.#watched.set(path, { watcher, ino, dev });
    this.#failed.delete(path);
    return true;
  }

  #drop(path: string, w: Watched): void {
    w.watcher.close();
    this.#watched.delete(path);
  }

  #warnOnce(path: string, err: unknown): void {
    if (this.#failed.has(path)) return;
    this.#failed.add(path);
    this.#log.warn({ err, folder: displayName(path) }, 'cannot watch an outbox folder; relying on the periodic rescan');
  }
}
