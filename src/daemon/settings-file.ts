/**
 * Writes run-time-safe settings changed on the dashboard back into the config file: only the
 * changed keys are touched (comment keys and the rest stay as the user wrote them), the result is
 * checked exactly as at start, and it replaces the file atomically (temp file, fsync, rename).
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import type { SettingsChanges } from '../control/methods.js';
import type { LoadedConfig } from '../config/types.js';
import { P2pdError } from '../errors.js';

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The file with `changes` applied; `load` validates (it throws CONFIG_INVALID naming the key). */
export async function writeSettings(file: string, changes: SettingsChanges, load: (file: string) => LoadedConfig): Promise<LoadedConfig> {
  const text = await readFile(file, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch {
    throw new P2pdError('CONFIG_UNREADABLE', `cannot change ${file}: it is not valid JSON any more (edited by hand?)`);
  }
  if (!isObject(raw)) throw new P2pdError('CONFIG_UNREADABLE', `cannot change ${file}: it does not hold a JSON object`);
  const next: JsonObject = { ...raw };
  if (changes.accept !== undefined) next.accept = changes.accept;
  if (changes.acceptOverrides !== undefined) next.acceptOverrides = { ...changes.acceptOverrides };
  if (changes.askTimeoutSeconds !== undefined) next.askTimeoutSeconds = changes.askTimeoutSeconds;
  if (changes.limits !== undefined) next.limits = { ...(isObject(raw.limits) ? raw.limits : {}), ...changes.limits };

  const mode = (await stat(file)).mode & 0o777;
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(`${JSON.stringify(next, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  let loaded: LoadedConfig;
  try {
    // The same checks as at start (schema, then the rules across keys), on the file as written.
    loaded = load(tmp);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    if (err instanceof P2pdError) throw new P2pdError(err.code, err.message.replaceAll(tmp, file), err.details === undefined ? {} : { details: err.details });
    throw err;
  }
  await rename(tmp, file);
  return { ...loaded, file };
}
