/**
 * One pass over the outbox: which peer folders exist and what is in them. Pure reading; the
 * Outbox decides what the findings mean.
 *
 * Layout: `<outbox>/<peer>/<item>`. Names starting with "." are skipped at both levels (.sent and
 * .failed at the top, editors' and copy tools' temporary files in peer folders). Anything at the
 * top that is not a real folder (a file, a symlink, even one to a folder) is reported in
 * `strays`, never entered.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { probeItem, type ItemProbe } from './signature.js';

export interface ScannedItem {
  readonly peer: string;
  readonly name: string;
  /** null when the caller asked to skip looking at it (it is being sent); it exists. */
  readonly probe: ItemProbe | null;
}

export interface OutboxScan {
  /** Names of the peer folders found. */
  readonly peers: string[];
  readonly items: ScannedItem[];
  /** Names directly in the outbox that are not folders: ignored. */
  readonly strays: string[];
  /** Items, or whole peer folders (name ""), that could not be read (EACCES, EIO): left as they were. */
  readonly failures: Array<{ readonly peer: string; readonly name: string; readonly err: unknown }>;
}

export function isHidden(name: string): boolean {
  return name.startsWith('.');
}

/** Throws only when the outbox itself cannot be read. */
export async function scanOutbox(dir: string, options: { signal?: AbortSignal; skip?: (peer: string, name: string) => boolean } = {}): Promise<OutboxScan> {
  const peers: string[] = [];
  const items: ScannedItem[] = [];
  const strays: string[] = [];
  const failures: Array<{ peer: string; name: string; err: unknown }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (isHidden(entry.name)) continue;
    if (entry.isDirectory()) peers.push(entry.name);
    else strays.push(entry.name);
  }
  const present: string[] = [];
  await Promise.all(
    peers.map(async (peer) => {
      options.signal?.throwIfAborted();
      let names: string[];
      try {
        names = await readdir(join(dir, peer));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return; // removed during the scan
        present.push(peer);
        failures.push({ peer, name: '', err });
        return;
      }
      present.push(peer);
      await Promise.all(
        names
          .filter((name) => !isHidden(name))
          .map(async (name) => {
            if (options.skip?.(peer, name) === true) {
              items.push({ peer, name, probe: null });
              return;
            }
            try {
              const probe = await probeItem(join(dir, peer, name), { signal: options.signal });
              if (probe.type !== 'gone') items.push({ peer, name, probe });
            } catch (err) {
              options.signal?.throwIfAborted();
              failures.push({ peer, name, err });
            }
          }),
      );
    }),
  );
  return { peers: present.sort(), items, strays: strays.sort(), failures };
}
