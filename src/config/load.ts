/**
 * Finds, reads, validates and completes the config, once, at start. The only module that looks at
 * environment variables, and it is handed them: it never reads process.env itself.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { P2pdError } from '../errors.js';
import { defaultConfig, defaultControlSocket, xdgDir } from './defaults.js';
import { validate as validateCron } from 'node-cron';
import { COMMENT_KEY_PATTERN, NAME_MAX_LENGTH, PATTERN_TEXT, configSchema, isPathSchema, type SchemaNode } from './schema.js';
import type { Config, LoadedConfig } from './types.js';

export interface LoadConfigOptions {
  /** The --config argument; wins over everything else. Relative to cwd. */
  file?: string | undefined;
  /** Read for P2PD_CONFIG, XDG_CONFIG_HOME and XDG_STATE_HOME. */
  env: NodeJS.ProcessEnv;
  home: string;
  hostname: string;
  cwd: string;
}

type JsonObject = { [key: string]: unknown };

/**
 * Throws P2pdError CONFIG_UNREADABLE when a named file cannot be read or parsed, and
 * CONFIG_INVALID (details {key, allowed}) for the first value the schema refuses.
 */
export function loadConfig(options: LoadConfigOptions): LoadedConfig {
  const home = resolve(options.cwd, options.home);
  const file = findConfigFile(options, home);
  const fromFile = file === null ? {} : stripComments(validate(readJsonFile(file), file));
  const baseDir = file === null ? options.cwd : dirname(file);

  const config = merge(defaultConfig(options.env, home, options.hostname), resolvePaths(fromFile, home, baseDir)) as Config;
  if (!Object.hasOwn(fromFile, 'controlSocket')) config.controlSocket = defaultControlSocket(config.stateDir);
  checkAcrossKeys(config, fromFile, file);

  const dashboardPortExplicit = isPlainObject(fromFile.dashboard) && Object.hasOwn(fromFile.dashboard, 'port');
  return deepFreeze({ config, file, portExplicit: Object.hasOwn(fromFile, 'port'), dashboardPortExplicit });
}

/** --config, then P2PD_CONFIG, then the XDG location if a file is there; null: defaults only. */
function findConfigFile(options: LoadConfigOptions, home: string): string | null {
  const named = nonEmpty(options.file) ?? nonEmpty(options.env.P2PD_CONFIG);
  if (named !== undefined) return resolve(options.cwd, named);
  const configHome = xdgDir(options.env.XDG_CONFIG_HOME) ?? join(home, '.config');
  const candidate = join(configHome, 'p2pd', 'config.json');
  try {
    return statSync(candidate, { throwIfNoEntry: false }) === undefined ? null : candidate;
  } catch (err) {
    // ENOTDIR: a file where a directory on the way should be; there is no config there either.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw unreadable(candidate, fsReason(err), err);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw unreadable(file, fsReason(err), err);
  }
  try {
    return JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch (err) {
    throw unreadable(file, `not valid JSON: ${jsonReason(err, text)}`, err);
  }
}

function unreadable(file: string, reason: string, cause: unknown): P2pdError {
  return new P2pdError('CONFIG_UNREADABLE', `cannot read config file ${file}: ${reason}`, { cause, details: { file, reason } });
}

function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return err instanceof Error ? err.message : String(err);
}

/** V8's message on one line, plus the line and column when it gives a position. */
function jsonReason(err: unknown, text: string): string {
  const message = (err instanceof Error ? err.message : String(err)).replaceAll('\r', '\\r').replaceAll('\n', '\\n');
  const position = /at position (\d+)/.exec(message);
  if (position === null) return message;
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${message} (line ${line}, column ${column})`;
}

/**
 * The schema's check, compiled to plain code at build time (tools/build-config-check.mjs): no ajv
 * compiler to import and run on each command.
 */
const requireHere = createRequire(import.meta.url);
const configCheck = (): ValidateFunction => requireHere('./config-check.cjs') as ValidateFunction;

function validate(data: unknown, file: string): JsonObject {
  const check = configCheck();
  if (check(data)) return data as JsonObject;
  const errors = check.errors ?? [];
  const first = errors[0];
  if (first === undefined) throw new P2pdError('INTERNAL', `config file ${file}: the schema refused it without saying why`);
  throw invalidFromAjv(first, data, file, errors.length - 1);
}

/** Turns ajv's first complaint into "port must be an integer from 0 to 65535 (got 70000)". */
function invalidFromAjv(error: ErrorObject, data: unknown, file: string, more: number): P2pdError {
  const segments = error.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  const key = dottedKey(segments, data);
  const node = schemaNodeAt(error.schemaPath);
  const suffix = more > 0 ? ` (and ${more} more ${more === 1 ? 'problem' : 'problems'})` : '';

  if (error.keyword === 'additionalProperties') {
    const unknownKey = String(error.params.additionalProperty);
    const fullKey = key === '' ? unknownKey : `${key}.${unknownKey}`;
    const known = Object.keys(node.properties ?? {});
    const guess = closest(unknownKey, known);
    const hint = guess === undefined ? '' : ` (did you mean "${guess}"?)`;
    const allowed = `one of the keys ${known.join(', ')}, or a comment key starting with "//"`;
    return new P2pdError(
      'CONFIG_INVALID',
      `config file ${file}: unknown key "${fullKey}"${hint}; known keys ${key === '' ? '' : `of ${key} `}are ${known.join(', ')}${suffix}`,
      { details: { key: fullKey, allowed } },
    );
  }

  const allowed = describeAllowed(node);
  return invalid(file, key, allowed, valueAt(data, segments), suffix);
}

function invalid(file: string | null, key: string, allowed: string, value: unknown, suffix = ''): P2pdError {
  const source = file === null ? 'default config' : `config file ${file}`;
  const subject = key === '' ? 'the top level' : key;
  return new P2pdError('CONFIG_INVALID', `${source}: ${subject} must be ${allowed} (got ${show(value)})${suffix}`, {
    details: { key, allowed },
  });
}

/** ["limits", "maxFileSize"] → "limits.maxFileSize"; ["interfaces", "1"] → "interfaces[1]". */
function dottedKey(segments: string[], data: unknown): string {
  let key = '';
  let here = data;
  for (const segment of segments) {
    key = Array.isArray(here) ? `${key}[${segment}]` : key === '' ? segment : `${key}.${segment}`;
    here = (here as JsonObject | undefined)?.[segment];
  }
  return key;
}

function valueAt(data: unknown, segments: string[]): unknown {
  return segments.reduce<unknown>((here, segment) => (here as JsonObject | undefined)?.[segment], data);
}

/** The schema node that holds the failing keyword: "#/properties/port/maximum" → the port node. */
function schemaNodeAt(schemaPath: string): SchemaNode {
  const segments = schemaPath.split('/').slice(1, -1);
  return segments.reduce<unknown>((node, segment) => (node as JsonObject)[segment], configSchema) as SchemaNode;
}

/** Plain words for what a key accepts: "an integer from 1 to 256", "one of "trusted", "all"". */
export function describeAllowed(node: SchemaNode): string {
  switch (node.type) {
    case 'integer':
      return node.maximum === undefined || node.maximum === Number.MAX_SAFE_INTEGER
        ? `an integer of at least ${node.minimum ?? 0}`
        : `an integer from ${node.minimum ?? 0} to ${node.maximum}`;
    case 'boolean':
      return 'true or false';
    case 'array':
      return node.items === undefined ? 'a list' : `a list, each item ${describeAllowed(node.items)}`;
    case 'object':
      return `an object with the keys ${Object.keys(node.properties ?? {}).join(', ')}`;
    case 'string': {
      if (node.enum !== undefined) return `one of ${node.enum.map((v) => JSON.stringify(v)).join(', ')}`;
      const { minLength = 0, maxLength } = node;
      const length = maxLength !== undefined ? `a string of ${minLength} to ${maxLength} characters` : minLength > 0 ? 'a non-empty string' : 'a string';
      const pattern = node.pattern === undefined ? undefined : (PATTERN_TEXT[node.pattern] ?? `matching ${node.pattern}`);
      return pattern === undefined ? length : `${length} ${pattern}`;
    }
  }
}

/** Rules the schema cannot state: they relate two values, or count bytes. */
function checkAcrossKeys(config: Config, fromFile: JsonObject, file: string | null): void {
  if (Buffer.byteLength(config.name, 'utf8') > NAME_MAX_LENGTH) {
    throw invalid(file, 'name', `a string of at most ${NAME_MAX_LENGTH} bytes in UTF-8 (mDNS counts bytes, not characters)`, config.name);
  }
  for (const [job, expression] of Object.entries(config.schedules) as Array<[string, string]>) {
    if (!validateCron(expression)) {
      throw invalid(file, `schedules.${job}`, 'a cron expression of 5 fields (or 6 with seconds first), e.g. "*/5 * * * *"', expression);
    }
  }
  const { refreshSeconds, expireSeconds } = config.discovery;
  if (expireSeconds <= refreshSeconds) {
    // Name the key the user wrote: the one to change.
    const discovery = (fromFile.discovery ?? {}) as JsonObject;
    if (!Object.hasOwn(discovery, 'expireSeconds') && Object.hasOwn(discovery, 'refreshSeconds')) {
      throw invalid(file, 'discovery.refreshSeconds', `less than discovery.expireSeconds (${expireSeconds})`, refreshSeconds);
    }
    throw invalid(file, 'discovery.expireSeconds', `greater than discovery.refreshSeconds (${refreshSeconds})`, expireSeconds);
  }
}

function show(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The known key nearest to a typo, if any is near enough to be a likely intent. */
function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function stripComments(value: JsonObject): JsonObject {
  const comment = new RegExp(COMMENT_KEY_PATTERN);
  const out: JsonObject = {};
  for (const [key, inner] of Object.entries(value)) {
    if (comment.test(key)) continue;
    out[key] = isPlainObject(inner) ? stripComments(inner) : inner;
  }
  return out;
}

/** "~" and "~/x" → under home; other relative paths → against the config file's directory. */
function resolvePaths(fromFile: JsonObject, home: string, baseDir: string): JsonObject {
  const out = { ...fromFile };
  for (const [key, node] of Object.entries(configSchema.properties)) {
    const value = out[key];
    if (isPathSchema(node) && typeof value === 'string') out[key] = expandPath(value, home, baseDir);
  }
  return out;
}

export function expandPath(value: string, home: string, baseDir: string): string {
  if (value === '~') return home;
  if (value.startsWith('~/')) return join(home, value.slice(2));
  return resolve(baseDir, value);
}

/** Objects merged key by key; anything else (arrays included) from `over` replaces `base`. */
function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = merge(base[key], value);
  return out;
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
