/**
 * LocalSend v2's JSON bodies, read defensively: every field is checked for type and size before it
 * is used, and a file name that could leave the inbox (CVE-2025-27142: "..", absolute paths,
 * backslashes, over-long names) is refused here, before the inbox's own name rules see it.
 */
import { P2pdError } from '../errors.js';

/** What LocalSend calls a device ("info" in prepare-upload, the register and announce bodies). */
export interface DeviceInfo {
  alias: string;
  version: string;
  deviceModel: string | null;
  deviceType: string;
  /** As claimed: over HTTP a random string, over HTTPS the SHA-256 of the certificate (checked elsewhere). */
  fingerprint: string;
  port: number | null;
  protocol: 'http' | 'https';
  download: boolean;
}

export interface FileRequest {
  id: string;
  /** Cleaned and confined: a relative path with "/" separators. */
  fileName: string;
  size: number;
  fileType: string;
  /** Lower-case hex, when the sender gives one. */
  sha256: string | null;
  /** Milliseconds since the epoch, from metadata.modified. */
  modifiedMs: number | null;
}

const MAX_ALIAS = 256;
const MAX_FIELD = 256;
const MAX_PATH_CHARS = 4096;
const MAX_COMPONENT_BYTES = 255;
const DEVICE_TYPES = new Set(['mobile', 'desktop', 'web', 'headless', 'server']);

function bad(message: string): P2pdError {
  return new P2pdError('OFFER_INVALID', message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown, field: string, max = MAX_FIELD): string {
  if (typeof v !== 'string' || v.length > max) throw bad(`${field} must be a string of at most ${max} characters`);
  return v;
}

function optStr(v: unknown, field: string): string | null {
  return v === undefined || v === null ? null : str(v, field);
}

/** A device as a LocalSend peer describes itself; unknown device types read as "desktop", as the app does. */
export function parseDeviceInfo(v: unknown): DeviceInfo {
  if (!isObject(v)) throw bad('the device info must be an object');
  const type = optStr(v.deviceType, 'deviceType') ?? 'desktop';
  const port = v.port === undefined || v.port === null ? null : v.port;
  if (port !== null && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535)) throw bad('port must be a TCP port');
  const protocol = v.protocol === undefined ? 'https' : v.protocol;
  if (protocol !== 'http' && protocol !== 'https') throw bad('protocol must be "http" or "https"');
  return {
    alias: str(v.alias, 'alias', MAX_ALIAS),
    version: optStr(v.version, 'version') ?? '1.0',
    deviceModel: optStr(v.deviceModel, 'deviceModel'),
    deviceType: DEVICE_TYPES.has(type) ? type : 'desktop',
    fingerprint: str(v.fingerprint ?? '', 'fingerprint'),
    port,
    protocol,
    download: v.download === true,
  };
}

/** The body of prepare-upload: the sender and its files, names checked. */
export function parsePrepareUpload(body: unknown): { info: DeviceInfo; files: FileRequest[] } {
  if (!isObject(body) || !isObject(body.files)) throw bad('prepare-upload needs an object with "info" and "files"');
  const info = parseDeviceInfo(body.info);
  const files: FileRequest[] = [];
  for (const [key, f] of Object.entries(body.files)) {
    if (!isObject(f)) throw bad(`file ${key.slice(0, 40)} is not an object`);
    const id = str(f.id ?? key, 'id');
    if (id !== key) throw bad(`file ${key.slice(0, 40)} has another id inside`);
    const size = f.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad(`file ${id.slice(0, 40)} has no valid size`);
    const sha = optStr(f.sha256, 'sha256');
    if (sha !== null && !/^[0-9a-fA-F]{64}$/.test(sha)) throw bad(`file ${id.slice(0, 40)} has a malformed sha256`);
    const modified = isObject(f.metadata) ? f.metadata.modified : undefined;
    const modifiedMs = typeof modified === 'string' ? Date.parse(modified) : NaN;
    files.push({
      id,
      fileName: confineFileName(str(f.fileName, 'fileName', MAX_PATH_CHARS)),
      size,
      fileType: optStr(f.fileType, 'fileType') ?? 'application/octet-stream',
      sha256: sha?.toLowerCase() ?? null,
      modifiedMs: Number.isFinite(modifiedMs) && modifiedMs >= 0 ? modifiedMs : null,
    });
  }
  return { info, files };
}

/**
 * A LocalSend fileName as a relative path inside the inbox, or NAME_INVALID. Folders ("a/b.txt")
 * are kept; anything that could climb out or mean another path on another system is refused
 * rather than guessed at: a name the sender could not have meant innocently gets no benefit of
 * the doubt. The inbox's own rules (control characters, reserved names) come after this.
 */
export function confineFileName(name: string): string {
  const refuse = (why: string): P2pdError => new P2pdError('NAME_INVALID', `the file name is refused: ${why}`);
  if (name.length === 0) throw refuse('it is empty');
  if (name.includes('\\')) throw refuse('it holds a backslash');
  if (name.includes('\0')) throw refuse('it holds a NUL character');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw refuse('it is absolute');
  const parts = name.split('/');
  for (const part of parts) {
    if (part === '' || part === '.') throw refuse('it has an empty or "." component');
    if (part === '..') throw refuse('it climbs out with ".."');
    if (Buffer.byteLength(part, 'utf8') > MAX_COMPONENT_BYTES) throw refuse(`a component is over ${MAX_COMPONENT_BYTES} bytes`);
  }
  return parts.join('/');
}
