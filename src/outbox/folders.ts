/** The outbox's own folders: the outbox itself, .sent/, .failed/ and one folder per trusted peer. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { P2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkRelativePath, displayName } from '../store/safe-name.js';
import { FAILED_DIR, SENT_DIR } from './moves.js';
import { isHidden } from './scan.js';

/** Creates the outbox (0700 if new), .sent/ and .failed/; a failure is the config's fault. */
export async function createOutboxFolders(dir: string): Promise<void> {
  for (const sub of ['', SENT_DIR, FAILED_DIR]) {
    const path = join(dir, sub);
    try {
      await mkdir(path, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new P2pdError('CONFIG_INVALID', `outbox: cannot create ${displayName(path)}: ${(err as Error).message}`, {
        cause: err,
        details: { key: 'outbox' },
      });
    }
  }
}

/** Makes `<dir>/<name>/` (0700) unless it exists; logs instead of rejecting. */
export async function createPeerFolder(dir: string, name: string, log: Logger): Promise<void> {
  try {
    await mkdir(join(dir, name), { mode: 0o700 });
    log.info({ peer: displayName(name) }, 'created an outbox folder for the peer');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    log.warn({ err, peer: displayName(name) }, 'cannot create the outbox folder for the peer');
  }
}

/** A single, visible, safe folder name: what a peer's name must be to get an outbox folder. */
export function isPeerFolderName(name: string): boolean {
  if (typeof name !== 'string' || name.length === 0 || isHidden(name)) return false;
  try {
    return checkRelativePath(name).length === 1;
  } catch {
    return false;
  }
}
