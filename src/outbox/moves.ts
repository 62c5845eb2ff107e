/**
 * Moving items out of the way once they are done with: into `.sent/<peer>/` after a verified
 * delivery, into `.failed/<peer>/` (with a note) when they cannot be delivered. Nothing already
 * there is ever replaced: a taken name becomes "name (1).ext", "name (2).ext", …
 */
import { cp, lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { P2pdError } from '../errors.js';
import { conflictName } from '../store/safe-name.js';

export const SENT_DIR = '.sent';
export const FAILED_DIR = '.failed';
export const NOTE_SUFFIX = '.why.txt';

/** More "name (n)" candidates than this means something is wrong; stop looking. */
const MAX_CONFLICTS = 10_000;

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Moves `src` into `destDir` (created, 0700) under `name`, or the first free conflict name, and
 * returns the name used. `companions(candidate)` lists other names that must be free too (the
 * failure note). The daemon is the only writer in these folders, so check-then-rename is enough.
 */
export async function moveInto(
  src: string,
  destDir: string,
  name: string,
  options: { kind: 'file' | 'dir'; companions?: (candidate: string) => string[] },
): Promise<string> {
  await mkdir(destDir, { recursive: true, mode: 0o700 });
  for (let n = 0; n <= MAX_CONFLICTS; n++) {
    const candidate = n === 0 ? name : conflictName(name, n, { keepExtension: options.kind === 'file' });
    const needed = [candidate, ...(options.companions?.(candidate) ?? [])];
    const taken = await Promise.all(needed.map((c) => exists(join(destDir, c))));
    if (taken.includes(true)) continue;
    await moveEntry(src, join(destDir, candidate));
    return candidate;
  }
  throw new P2pdError('INTERNAL', `no free name for "${name}" in ${destDir}`);
}

/** rename(), or copy and delete when the destination is on another file system. */
async function moveEntry(src: string, dest: string): Promise<void> {
  try {
    await rename(src, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await cp(src, dest, { recursive: true, errorOnExist: true, force: false, preserveTimestamps: true, verbatimSymlinks: true });
    await rm(src, { recursive: true, force: true });
  }
}

/** Moves a delivered item to `<outbox>/.sent/<peer>/`; returns the name it got there. */
export function moveToSent(outbox: string, peer: string, name: string, kind: 'file' | 'dir'): Promise<string> {
  return moveInto(join(outbox, peer, name), join(outbox, SENT_DIR, peer), name, { kind });
}

/**
 * Moves an undeliverable item to `<outbox>/.failed/<peer>/` and writes `<name>.why.txt` next to it.
 * Returns the name it got; a note that cannot be written is reported through `onNoteError`
 * (the item has moved by then, which matters more).
 */
export async function moveToFailed(
  outbox: string,
  peer: string,
  name: string,
  kind: 'file' | 'dir',
  note: string,
  onNoteError: (err: unknown) => void,
): Promise<string> {
  const dir = join(outbox, FAILED_DIR, peer);
  const finalName = await moveInto(join(outbox, peer, name), dir, name, {
    kind,
    companions: (candidate) => [`${candidate}${NOTE_SUFFIX}`],
  });
  try {
    await writeFile(join(dir, `${finalName}${NOTE_SUFFIX}`), note, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    onNoteError(err);
  }
  return finalName;
}

/** After a verified delivery with afterSend "delete". */
export async function deleteItem(outbox: string, peer: string, name: string): Promise<void> {
  await rm(join(outbox, peer, name), { recursive: true, force: true });
}
