/**
 * A hand-built protocol client for the hostile-peer suites: it speaks p2pd's wire format byte by
 * byte over a real TLS connection to a real daemon, so a test can send what no honest sender
 * would (traversal names, wrong sizes, bad frames, garbage) and read exactly what the daemon
 * answers. Nothing here goes through the sender session: every frame is the test's choice.
 *
 * It connects to 127.0.0.1 only, on the port the daemon reports through `p2pd id --json`.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type tls from 'node:tls';
import { encodeDataHeader, encodeMessage, encodeOffer, encodePreface } from '../../src/protocol/codec.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import type { ErrorCode } from '../../src/errors.js';
import type { DecodedEvent, OfferEntry } from '../../src/protocol/messages.js';
import { dialTls, loadOrCreateIdentity, type Identity } from '../../src/transport/index.js';
import { sleep, TestDaemon } from './daemons.js';

/** What the client saw from the daemon, in order. DATA never comes this way (daemons only receive). */
export type SeenEvent =
  | Exclude<DecodedEvent, { type: 'data' }>
  /** The daemon's bytes did not decode: a daemon bug the test should see. */
  | { type: 'decode-error'; code: string; message: string }
  /** The daemon ended its side (FIN) or the socket closed. */
  | { type: 'end' };

export interface Target {
  id: string;
  port: number;
}

/** The daemon's id and TCP port, as `p2pd id --json` tells them. */
export async function targetOf(daemon: TestDaemon): Promise<Target> {
  const me = await daemon.json<{ id: string; port: number }>(['id']);
  return { id: me.id, port: me.port };
}

/** A throw-away identity for the attacker, in its own temp dir; `dispose()` removes it. */
export async function hostileIdentity(): Promise<{ identity: Identity; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pd-hostile-id-'));
  const identity = await loadOrCreateIdentity({ dir });
  return { identity, dispose: () => rm(dir, { recursive: true, force: true }) };
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** One file entry with sensible defaults. */
export function fileEntry(path: string, size: number, over: Partial<OfferEntry> = {}): OfferEntry {
  return { path, kind: 'file', size, mode: 0o644, mtimeMs: 1_700_000_000_000, ...over };
}

export function dirEntry(path: string, over: Partial<OfferEntry> = {}): OfferEntry {
  return { path, kind: 'dir', size: 0, mode: 0o755, mtimeMs: 1_700_000_000_000, ...over };
}

/** A frame with any type byte and payload, bypassing every check of the encoder. */
export function rawFrame(type: number, payload: Buffer | string, length?: number): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const header = Buffer.alloc(5);
  header.writeUInt32BE(length ?? body.length + 1, 0);
  header[4] = type;
  return Buffer.concat([header, body]);
}

let transferCounter = 0;
export function newTransferId(): string {
  transferCounter++;
  return `hostile-${process.pid}-${Date.now().toString(36)}-${transferCounter}`;
}

export interface OfferOptions {
  transferId?: string;
  /** Defaults to entries.length. */
  totalFiles?: number;
  /** Defaults to the sum of the sizes. */
  totalBytes?: number;
  /** Largest JSON payload per OFFER frame; a small value spreads the offer over many frames. */
  maxPayload?: number;
  /** Send every frame but the last: an offer that announces more entries to come and never ends. */
  partial?: boolean;
}

export class HostileClient {
  readonly socket: tls.TLSSocket;
  readonly events: SeenEvent[] = [];
  /** Errors the socket reported (EPIPE, ECONNRESET after the daemon hung up, ...). */
  readonly socketErrors: Error[] = [];
  transferId = '';
  #closed = false;
  readonly #closedPromise: Promise<void>;
  readonly #waiters = new Set<() => void>();
  readonly #decoder = new FrameDecoder();
  #decoderFailed = false;

  private constructor(socket: tls.TLSSocket, options: { autoPong: boolean }) {
    this.socket = socket;
    socket.on('error', (err: Error) => this.socketErrors.push(err));
    socket.on('data', (chunk: Buffer) => {
      if (this.#decoderFailed) return;
      try {
        for (const e of this.#decoder.push(chunk)) {
          if (e.type === 'data') continue;
          if (e.type === 'ping' && options.autoPong) this.#write(encodeMessage({ type: 'pong' }));
          this.#record(e);
        }
      } catch (err) {
        this.#decoderFailed = true;
        const e = err as { code?: string; message?: string };
        this.#record({ type: 'decode-error', code: e.code ?? 'UNKNOWN', message: e.message ?? String(err) });
      }
    });
    socket.on('end', () => this.#record({ type: 'end' }));
    this.#closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.#closed = true;
        this.#notify();
        resolve();
      });
    });
  }

  /**
   * Dials the daemon over TLS on 127.0.0.1, pinning its id, presenting `identity`'s certificate.
   * `autoPong` (default true) answers the daemon's heartbeats as a live peer would.
   */
  static async connect(target: Target, identity: Identity, options: { autoPong?: boolean; timeoutMs?: number } = {}): Promise<HostileClient> {
    const { socket } = await dialTls(
      { identity },
      {
        addresses: [{ host: '127.0.0.1', port: target.port }],
        expectedId: target.id,
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        timeoutMs: options.timeoutMs ?? 10_000,
      },
    );
    return new HostileClient(socket, { autoPong: options.autoPong ?? true });
  }

  /** True once the connection is fully closed. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** The preface (version 1 unless told) and a HELLO. */
  hello(options: { name?: string; version?: number } = {}): this {
    this.#write(encodePreface(options.version ?? 1));
    this.#write(encodeMessage({ type: 'hello', name: options.name ?? 'mallory', software: 'hostile/0', features: [] }));
    return this;
  }

  /** The whole offer in one or more OFFER frames, totals computed unless given. */
  offer(entries: readonly OfferEntry[], options: OfferOptions = {}): this {
    this.transferId = options.transferId ?? newTransferId();
    const totalFiles = options.totalFiles ?? entries.length;
    const totalBytes = options.totalBytes ?? entries.reduce((sum, e) => sum + e.size, 0);
    const frames = encodeOffer(this.transferId, totalFiles, totalBytes, entries, options.maxPayload);
    if (options.partial === true && frames.length < 2) throw new Error('a partial offer needs more than one frame: lower maxPayload');
    for (const frame of options.partial === true ? frames.slice(0, -1) : frames) this.#write(frame);
    return this;
  }

  fileBegin(index: number, offset = 0): this {
    this.#write(encodeMessage({ type: 'file-begin', index, offset }));
    return this;
  }

  /** One DATA frame carrying `bytes` (empty is allowed). */
  data(bytes: Buffer): this {
    this.#write(Buffer.concat([encodeDataHeader(bytes.length), bytes]));
    return this;
  }

  fileEnd(index: number, sha: string): this {
    this.#write(encodeMessage({ type: 'file-end', index, sha256: sha }));
    return this;
  }

  /** FILE_BEGIN, the bytes in DATA frames of up to 1 MiB, FILE_END with `sha` (the bytes' own hash unless given). */
  sendFile(index: number, bytes: Buffer, sha?: string): this {
    this.fileBegin(index);
    for (let at = 0; at < bytes.length; at += 1 << 20) this.data(bytes.subarray(at, Math.min(bytes.length, at + (1 << 20))));
    return this.fileEnd(index, sha ?? sha256(bytes));
  }

  /** A heartbeat, as a live peer sends on a quiet connection. */
  ping(): this {
    this.#write(encodeMessage({ type: 'ping' }));
    return this;
  }

  /** A PAIR_COMMIT for a nonce the client never reveals. */
  pairCommit(): this {
    this.#write(encodeMessage({ type: 'pair-commit', commit: sha256(Buffer.from(newTransferId())) }));
    return this;
  }

  /** An ERROR frame, as a sender that cancels sends one. */
  sendError(code: ErrorCode, message: string): this {
    this.#write(encodeMessage({ type: 'error', code, message }));
    return this;
  }

  done(): this {
    this.#write(encodeMessage({ type: 'done' }));
    return this;
  }

  /** Any bytes at all. */
  raw(buf: Buffer | string): this {
    this.#write(typeof buf === 'string' ? Buffer.from(buf, 'utf8') : buf);
    return this;
  }

  /** Resolves once the socket has written everything queued so far (or closed). */
  flushed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.socket.writableEnded) return resolve();
      this.socket.write(Buffer.alloc(0), () => resolve());
    });
  }

  /**
   * The first event (from the start of the connection) that matches; fails at `timeoutMs`, or at
   * once when the connection closed without one, naming everything seen.
   */
  async waitFor<T extends SeenEvent>(predicate: (e: SeenEvent) => e is T, timeoutMs?: number): Promise<T>;
  async waitFor(predicate: (e: SeenEvent) => boolean, timeoutMs?: number): Promise<SeenEvent>;
  async waitFor(predicate: (e: SeenEvent) => boolean, timeoutMs = 10_000): Promise<SeenEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(predicate);
      if (found !== undefined) return found;
      if (this.#closed) throw new Error(`the connection closed without the awaited event; seen: ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms; seen: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  /** The daemon's ANSWER. */
  answer(timeoutMs?: number): Promise<Extract<SeenEvent, { type: 'answer' }>> {
    return this.waitFor((e): e is Extract<SeenEvent, { type: 'answer' }> => e.type === 'answer', timeoutMs);
  }

  /** The daemon's ERROR frame. */
  error(timeoutMs?: number): Promise<Extract<SeenEvent, { type: 'error' }>> {
    return this.waitFor((e): e is Extract<SeenEvent, { type: 'error' }> => e.type === 'error', timeoutMs);
  }

  fileResult(index: number, timeoutMs?: number): Promise<Extract<SeenEvent, { type: 'file-result' }>> {
    return this.waitFor((e): e is Extract<SeenEvent, { type: 'file-result' }> => e.type === 'file-result' && e.index === index, timeoutMs);
  }

  summary(timeoutMs?: number): Promise<Extract<SeenEvent, { type: 'summary' }>> {
    return this.waitFor((e): e is Extract<SeenEvent, { type: 'summary' }> => e.type === 'summary', timeoutMs);
  }

  /** Resolves when the connection is closed; fails after `timeoutMs`. */
  async closed(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#closedPromise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the daemon did not close the connection within ${timeoutMs} ms; seen: ${this.describe()}`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Our side goes away at once. */
  destroy(): void {
    this.socket.destroy();
  }

  /** The events seen so far, short, for failure messages. */
  describe(): string {
    return JSON.stringify(this.events.map((e) => ('code' in e && e.code !== undefined ? `${e.type}:${e.code}` : e.type)));
  }

  #write(buf: Buffer): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(buf);
  }

  #record(e: SeenEvent): void {
    this.events.push(e);
    this.#notify();
  }

  #notify(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

/**
 * A complete honest transfer of one small file through a new hostile connection: proves the daemon
 * is up and still serves this peer after an attack. Returns the name the file was saved under.
 */
export async function goodTransfer(target: Target, identity: Identity, inbox: string): Promise<string> {
  const client = await HostileClient.connect(target, identity);
  try {
    const name = `good-${newTransferId()}.txt`;
    const bytes = Buffer.from(`an honest file, ${name}\n`);
    client.hello().offer([fileEntry(name, bytes.length)]);
    const answer = await client.answer();
    if (!answer.accept) throw new Error(`the daemon refused an honest offer: ${answer.code ?? '?'} ${answer.message ?? ''}`);
    client.sendFile(0, bytes).done();
    const result = await client.fileResult(0);
    if (!result.ok) throw new Error(`an honest file failed: ${result.code ?? '?'} ${result.message ?? ''}`);
    const summary = await client.summary();
    if (!summary.ok || summary.files !== 1) throw new Error(`unexpected SUMMARY ${JSON.stringify(summary)}`);
    const saved = await readFile(join(inbox, name));
    if (!saved.equals(bytes)) throw new Error(`${name} arrived with other bytes`);
    await client.closed();
    return name;
  } finally {
    client.destroy();
  }
}

/**
 * A reservation record: a few bytes naming the folders an unfinished transfer reserved, kept (with
 * those folders) so that a retry of the same transfer continues in them. It holds no file data.
 */
export const RESERVATION_RECORD = /^t-[0-9a-f]{40}\.json$/;

/**
 * Waits until `<inbox>/.p2pd-partial` holds no partial data (reservation records aside, see
 * RESERVATION_RECORD); fails with what is left after `timeoutMs`. The hostile client never lists
 * the `resume` feature, so nothing may be kept for a resume either.
 */
export async function partialsCleared(inbox: string, timeoutMs = 5000): Promise<void> {
  const dir = join(inbox, '.p2pd-partial');
  const deadline = Date.now() + timeoutMs;
  let left: string[] = [];
  while (Date.now() < deadline) {
    left = (await readdir(dir)).filter((name) => !RESERVATION_RECORD.test(name));
    if (left.length === 0) return;
    await sleep(50);
  }
  throw new Error(`partial files left in ${dir}: ${left.join(', ')}`);
}

/** Opens a plain TCP connection to 127.0.0.1:port (no TLS). */
export function tcpConnect(port: number, timeoutMs = 5000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TCP connect to 127.0.0.1:${port} timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Resolves with the time (ms) it took the other side to close `socket`; fails after `timeoutMs`. */
export function closedWithin(socket: net.Socket, timeoutMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve(0);
    socket.on('error', () => undefined);
    const timer = setTimeout(() => reject(new Error(`the daemon kept the connection open for ${timeoutMs} ms`)), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
    socket.resume();
  });
}

/** Relative paths of everything under `root` (directories end in "/"), skipping `skip`. */
export async function listTree(root: string, skip: (rel: string) => boolean = () => false): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, prefix: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const rel = prefix + e.name;
      if (skip(rel)) continue;
      if (e.isDirectory()) {
        out.push(`${rel}/`);
        await walk(join(dir, e.name), `${rel}/`);
      } else {
        out.push(e.isSymbolicLink() ? `${rel} -> symlink` : rel);
      }
    }
  }
  await walk(root, '');
  return out;
}

/** Raw bytes that must never reach a terminal or a log line. */
export const RAW_ESCAPES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u009b]/;

export interface Snapshot {
  /** Everything in the daemon's directory except its inbox and state, and the canary directory. */
  outside: string[];
  /** Everything in the inbox except partial files. */
  inbox: string[];
}

/**
 * One daemon (accept: "all" unless told, so the hostile client may send), one attacker identity, a canary
 * directory next to the daemon's, and the checks every hostile test ends with.
 */
export class HostileFixture {
  readonly daemon: TestDaemon;
  readonly target: Target;
  readonly identity: Identity;
  /** A directory outside the inbox with one file in it: it must stay exactly as it is. */
  readonly canary: string;
  /** A unique word for the names of hostile entries, to search for them outside the inbox. */
  readonly marker: string;
  readonly #disposeIdentity: () => Promise<void>;

  private constructor(daemon: TestDaemon, target: Target, identity: Identity, canary: string, marker: string, disposeIdentity: () => Promise<void>) {
    this.daemon = daemon;
    this.target = target;
    this.identity = identity;
    this.canary = canary;
    this.marker = marker;
    this.#disposeIdentity = disposeIdentity;
  }

  static async start(options: {
    name: string;
    /** "all" (the default) lets the hostile client send; with "trusted" it must be trusted first; "ask" holds its offers for a person. */
    accept?: 'all' | 'trusted' | 'ask';
    limits?: Record<string, unknown>;
    extra?: Record<string, unknown>;
  }): Promise<HostileFixture> {
    const marker = `evil${process.pid}x${Date.now().toString(36)}`;
    const [{ identity, dispose }, canary] = await Promise.all([hostileIdentity(), mkdtemp(join(tmpdir(), 'p2pd-canary-'))]);
    await writeFile(join(canary, 'keep.txt'), 'canary\n');
    const daemon = await TestDaemon.create({
      name: `${options.name}-${process.pid.toString(36)}`,
      accept: options.accept ?? 'all',
      extra: {
        // Discovery plays no part here: the client dials the port it was told.
        discovery: { enabled: false },
        limits: {
          // The suites open a few dozen connections a minute from 127.0.0.1; the per-address
          // limit is not what they test (the burst test sets its own).
          connectionsPerMinute: 100_000,
          ...options.limits,
        },
        ...options.extra,
      },
    });
    try {
      await daemon.start();
      const target = await targetOf(daemon);
      return new HostileFixture(daemon, target, identity, canary, marker, dispose);
    } catch (err) {
      await daemon.destroy();
      await dispose();
      await rm(canary, { recursive: true, force: true });
      throw err;
    }
  }

  get inbox(): string {
    return this.daemon.inbox;
  }

  connect(options: { autoPong?: boolean } = {}): Promise<HostileClient> {
    return HostileClient.connect(this.target, this.identity, options);
  }

  async snapshot(): Promise<Snapshot> {
    const [outside, canary, inbox] = await Promise.all([
      listTree(this.daemon.dir, (rel) => rel === 'inbox' || rel === 'state'),
      listTree(this.canary),
      listTree(this.inbox, (rel) => rel === '.p2pd-partial'),
    ]);
    return { outside: [...outside, ...canary.map((c) => `canary:${c}`)], inbox };
  }

  /**
   * The checks every attack ends with: the partial directory empties, nothing appeared outside
   * the inbox (nor anywhere under the marker's name in the temp dir), no new final name in the
   * inbox (unless `newInInbox` lists it), the daemon answers `p2pd status` without a raw escape,
   * its log holds none, and it still takes an honest file from this very peer.
   */
  async checkAfter(before: Snapshot, options: { newInInbox?: string[]; skipGoodTransfer?: boolean } = {}): Promise<void> {
    await partialsCleared(this.inbox);
    const now = await this.snapshot();
    assertEqual(now.outside, before.outside, 'something changed outside the inbox');
    const expected = [...before.inbox, ...(options.newInInbox ?? [])].sort();
    assertEqual([...now.inbox].sort(), expected, 'the inbox holds other final names than expected');
    const strays = (await readdir(tmpdir())).filter((n) => n.includes(this.marker));
    assertEqual(strays, [], `hostile names appeared in ${tmpdir()}`);
    assertEqual(await readFile(join(this.canary, 'keep.txt'), 'utf8'), 'canary\n', 'the canary file changed');
    const status = await this.daemon.cli(['status']);
    if (status.code !== 0) throw new Error(`p2pd status failed (${status.code}): ${status.stderr}`);
    if (RAW_ESCAPES.test(status.stdout + status.stderr)) throw new Error(`p2pd status printed a raw control character: ${JSON.stringify(status.stdout)}`);
    const logLines = this.daemon.log.split('\n').filter((line) => line.trim() !== '');
    const rawLine = logLines.find((line) => RAW_ESCAPES.test(line));
    if (rawLine !== undefined) throw new Error(`the daemon's log holds a raw control character: ${JSON.stringify(rawLine)}`);
    // A line break in a peer's text must not forge log lines: every line is one JSON object.
    const forged = logLines.find((line) => !isJsonObject(line));
    if (forged !== undefined) throw new Error(`the daemon's log has a line that is not a JSON object: ${JSON.stringify(forged)}`);
    if (options.skipGoodTransfer !== true) await goodTransfer(this.target, this.identity, this.inbox);
  }

  /**
   * Sends `entries` as an offer and, like an attacker that does not wait, the files' bytes right
   * behind it; expects ANSWER accept=false with `code` and the daemon hanging up. Returns the ANSWER.
   */
  async expectRefused(
    entries: readonly OfferEntry[],
    code: string,
    options: { hello?: { name?: string }; offer?: OfferOptions; pipeline?: boolean } = {},
  ): Promise<Extract<SeenEvent, { type: 'answer' }>> {
    const client = await this.connect();
    try {
      client.hello(options.hello).offer(entries, options.offer);
      if (options.pipeline !== false) {
        entries.forEach((e, i) => {
          if (e.kind === 'file' && e.size <= 1 << 20) client.sendFile(i, Buffer.alloc(e.size, 0x41));
        });
        client.done();
      }
      const answer = await client.answer();
      const what = `offer ${JSON.stringify(entries.map((e) => e.path))}`;
      if (answer.accept !== false || answer.code !== code) {
        throw new Error(`${what}: expected ANSWER accept=false ${code}, got accept=${answer.accept} ${answer.code ?? ''} ${answer.message ?? ''}`);
      }
      if (RAW_ESCAPES.test(answer.message ?? '')) throw new Error(`${what}: the daemon's message carries a raw control character`);
      await client.closed();
      return answer;
    } finally {
      client.destroy();
    }
  }

  /** Sends the frames `frames()` writes after the preface and HELLO, and expects ERROR `code` and a hang-up. */
  async expectError(code: string, frames: (client: HostileClient) => void, options: { hello?: boolean } = {}): Promise<HostileClient> {
    const client = await this.connect();
    try {
      if (options.hello !== false) client.hello();
      frames(client);
      const error = await client.error();
      if (error.code !== code) throw new Error(`expected ERROR ${code}, got ${error.code}: ${error.message}; seen ${client.describe()}`);
      if (RAW_ESCAPES.test(error.message)) throw new Error(`the daemon's ERROR message carries a raw control character`);
      await client.closed();
      return client;
    } finally {
      client.destroy();
    }
  }

  /** An offer the daemon must accept; returns the open client for the test to go on with. */
  async accepted(
    entries: readonly OfferEntry[],
    options: { hello?: { name?: string }; offer?: OfferOptions; autoPong?: boolean } = {},
  ): Promise<HostileClient> {
    const client = await this.connect({ autoPong: options.autoPong ?? true });
    client.hello(options.hello).offer(entries, options.offer);
    const answer = await client.answer().catch((err: unknown) => {
      client.destroy();
      throw err;
    });
    if (!answer.accept) {
      client.destroy();
      throw new Error(`the daemon refused ${JSON.stringify(entries.map((e) => e.path))}: ${answer.code ?? '?'} ${answer.message ?? ''}`);
    }
    return client;
  }

  async dispose(): Promise<void> {
    await this.daemon.destroy();
    await this.#disposeIdentity();
    await rm(this.canary, { recursive: true, force: true });
  }
}

function isJsonObject(line: string): boolean {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

function assertEqual(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}:\n  actual:   ${a}\n  expected: ${e}`);
}

/** The daemon's resident memory in bytes, from /proc. */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (kb === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb[1]) * 1024;
}

/** How many file descriptors the process holds. */
export async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}
