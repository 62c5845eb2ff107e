/**
 * LocalSend as a session driver for sends: prepare-upload (with the PIN when one was given), then
 * one upload per file, over HTTPS with p2pd's certificate as the client certificate and the
 * device's announced (and proven) fingerprint pinned. A device that speaks plain HTTP gets the
 * files only with the user's opt-in, since they then cross the LAN in clear. Receiving is the
 * server's (server.ts), not a driver's: LocalSend's inbound side is HTTP requests, not one
 * connection.
 */
import { Readable } from 'node:stream';
import { P2pdError } from '../errors.js';
import type { AttemptResult, InboundResult, OutgoingAttempt, SessionDriver } from '../transfer/drivers.js';
import type { FileOutcome, TransferProgress } from '../transfer/progress.js';
import { lsRequest } from './client.js';
import type { LocalSendDevice, LocalSendDevices } from './devices.js';
import type { LocalSendIdentity } from './identity.js';

/** What one send may carry beyond the files: given through the control API, never stored. */
export interface LocalSendSendOptions {
  /** The PIN the device asked for. */
  pin?: string;
  /** Send to a plain-HTTP device although the bytes go in clear (as `localsend.allowHttp`). */
  allowHttp?: boolean;
  /** Told once, before a byte leaves, that the files go over plain HTTP. */
  onPlainHttp?: (device: { alias: string; address: string }) => void;
}

/** What each status of prepare-upload means for the user. */
function prepareError(status: number, name: string, pinGiven: boolean): P2pdError {
  switch (status) {
    case 401:
      return pinGiven
        ? new P2pdError('PIN_WRONG', `${name} refused the PIN; check it on the device (its tries are limited)`)
        : new P2pdError('PIN_REQUIRED', `${name} asks for a PIN: send again with --pin <pin>`);
    case 403:
      return new P2pdError('PEER_REFUSED', `${name} rejected the files`);
    case 409:
      return new P2pdError('PEER_BUSY', `${name} is busy with another transfer; try again later`);
    case 429:
      return new P2pdError('PIN_TRIES_EXCEEDED', `${name} refuses this address for a while after too many wrong PINs; wait before trying again`);
    default:
      return new P2pdError('PROTOCOL_UNEXPECTED', `${name} answered prepare-upload with HTTP ${status}`);
  }
}

export class LocalSendDriver implements SessionDriver {
  readonly protocol = 'localsend';
  readonly #devices: LocalSendDevices;
  readonly #identity: () => LocalSendIdentity | undefined;
  readonly #info: () => object;
  readonly #allowHttp: () => boolean;
  readonly #isTrusted: (fingerprint: string) => boolean;
  readonly #perSend = new Map<string, LocalSendSendOptions>();

  constructor(deps: {
    devices: LocalSendDevices;
    identity: () => LocalSendIdentity | undefined;
    info: () => object;
    allowHttp?: () => boolean;
    /** Whether a fingerprint is a trusted LocalSend device's. */
    isTrusted?: (fingerprint: string) => boolean;
  }) {
    this.#devices = deps.devices;
    this.#identity = deps.identity;
    this.#info = deps.info;
    this.#allowHttp = deps.allowHttp ?? (() => false);
    this.#isTrusted = deps.isTrusted ?? (() => false);
  }

  /**
   * Options for the send of transfer `transferId` (every attempt of it), until the returned
   * function is called. Kept apart from the transfer's record so a PIN is never stored or shown.
   */
  withOptions(transferId: string, options: LocalSendSendOptions): () => void {
    this.#perSend.set(transferId, { ...options });
    return () => this.#perSend.delete(transferId);
  }

  async send(attempt: OutgoingAttempt): Promise<AttemptResult> {
    const { signal, source } = attempt;
    const options = this.#perSend.get(attempt.transferId) ?? {};
    const identity = this.#identity();
    const device = this.#devices.list().find((d) => d.fingerprint === attempt.peer.id);
    if (identity === undefined || device === undefined) {
      throw new P2pdError('PEER_UNREACHABLE', `the LocalSend device ${attempt.peer.name} is not seen on the LAN now`);
    }
    const target = this.#target(device, options);
    const indexes = source.entries.flatMap((e, i) => (e.kind === 'file' ? [i] : []));
    const files = Object.fromEntries(
      indexes.map((i) => {
        const e = source.entries[i]!;
        return [
          String(i),
          { id: String(i), fileName: e.path, size: e.size, fileType: 'application/octet-stream', metadata: { modified: new Date(e.mtimeMs).toISOString() } },
        ];
      }),
    );
    const pin = options.pin !== undefined && options.pin !== '' ? options.pin : undefined;
    const path = pin === undefined ? 'prepare-upload' : `prepare-upload?${new URLSearchParams({ pin }).toString()}`;
    const prep = await lsRequest(target, { method: 'POST', path, json: { info: this.#info(), files } }, { identity, signal });
    attempt.onConnected({ id: device.fingerprint, name: device.alias });
    if (prep.status === 204) return { ok: true, files: [] };
    if (prep.status !== 200) throw prepareError(prep.status, device.alias, pin !== undefined);
    const reply = prep.json as { sessionId?: unknown; files?: Record<string, unknown> } | null;
    if (typeof reply?.sessionId !== 'string' || typeof reply.files !== 'object' || reply.files === null) {
      throw new P2pdError('PROTOCOL_UNEXPECTED', `${device.alias} answered prepare-upload without a session`);
    }
    // A retry sends only what earlier attempts did not deliver; progress counts those too.
    const base = attempt.baseProgress;
    const progress: TransferProgress = {
      phase: 'sending',
      filesTotal: base.files + indexes.length,
      filesDone: base.files,
      filesFailed: 0,
      bytesTotal: base.bytes + indexes.reduce((n, i) => n + source.entries[i]!.size, 0),
      bytesDone: base.bytes,
    };
    attempt.onProgress({ ...progress });
    const outcomes: FileOutcome[] = [];
    for (const i of indexes) {
      const token = reply.files[String(i)];
      // The receiver may take only some of the files; the rest are not sent.
      if (typeof token !== 'string') continue;
      const outcome = await this.#upload(attempt, { target, identity, device, sessionId: reply.sessionId, index: i, token, progress });
      outcomes.push(outcome);
      attempt.onFileResult(outcome);
      attempt.onProgress({ ...progress });
    }
    return { ok: outcomes.every((o) => o.ok), files: outcomes };
  }

  /** Where to send, refusing a device that proves nothing unless plain HTTP was allowed. */
  #target(device: LocalSendDevice, options: LocalSendSendOptions): { address: string; port: number; fingerprint: string | null; protocol: 'http' | 'https' } {
    if (device.verified) return { address: device.address, port: device.port, fingerprint: device.fingerprint, protocol: 'https' };
    if (device.protocol !== 'http') {
      throw new P2pdError('PEER_REFUSED', `${device.alias} did not prove its fingerprint over HTTPS (yet); p2pd sends over HTTPS only to verified devices`);
    }
    // A trusted fingerprint was proven by a certificate; over plain HTTP it is only claimed.
    if (this.#isTrusted(device.fingerprint)) {
      throw new P2pdError(
        'PEER_IDENTITY_MISMATCH',
        `${device.alias} at ${device.address} claims a trusted device's fingerprint over plain HTTP, where it cannot prove it: a possible impostor`,
      );
    }
    if (options.allowHttp !== true && !this.#allowHttp()) {
      throw new P2pdError(
        'PLAIN_HTTP_REFUSED',
        `${device.alias} speaks plain HTTP: the files would cross the LAN in clear and nothing proves who receives them; send with --allow-http (or set localsend.allowHttp) to do it anyway`,
      );
    }
    options.onPlainHttp?.({ alias: device.alias, address: device.address });
    return { address: device.address, port: device.port, fingerprint: null, protocol: 'http' };
  }

  async #upload(
    attempt: OutgoingAttempt,
    u: {
      target: Parameters<typeof lsRequest>[0];
      identity: LocalSendIdentity;
      device: LocalSendDevice;
      sessionId: string;
      index: number;
      token: string;
      progress: TransferProgress;
    },
  ): Promise<FileOutcome> {
    const { signal, source } = attempt;
    const { progress } = u;
    const entry = source.entries[u.index]!;
    let sent = 0;
    const counted = async function* (chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      for await (const c of chunks) {
        sent += c.length;
        progress.bytesDone += c.length;
        attempt.onProgress({ ...progress, file: { index: u.index, path: entry.path, bytes: entry.size, bytesDone: sent } });
        yield c;
      }
    };
    const q = new URLSearchParams({ sessionId: u.sessionId, fileId: String(u.index), token: u.token });
    const up = await lsRequest(
      u.target,
      { method: 'POST', path: `upload?${q.toString()}`, body: Readable.from(counted(source.read(u.index, { signal }))), length: entry.size },
      { identity: u.identity, signal },
    );
    if (up.status === 200) {
      progress.filesDone++;
      return { index: u.index, path: entry.path, ok: true, bytes: entry.size };
    }
    // Bytes the receiver threw away are not progress.
    progress.bytesDone -= sent;
    progress.filesFailed++;
    const code = up.status === 422 ? 'HASH_MISMATCH' : 'PEER_REFUSED';
    return { index: u.index, path: entry.path, ok: false, error: { code, message: `${u.device.alias} answered HTTP ${up.status}` } };
  }

  receive(): Promise<InboundResult> {
    return Promise.reject(new P2pdError('INTERNAL', 'LocalSend receives through its HTTPS server, not a driver'));
  }
}
