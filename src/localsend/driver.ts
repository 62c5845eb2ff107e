/**
 * LocalSend as a session driver for sends: prepare-upload, then one upload per file, over HTTPS
 * with p2pd's certificate as the client certificate and the device's announced (and proven)
 * fingerprint pinned. Receiving is the server's (server.ts), not a driver's: LocalSend's inbound
 * side is HTTP requests, not one connection.
 */
import { Readable } from 'node:stream';
import { P2pdError } from '../errors.js';
import type { AttemptResult, InboundResult, OutgoingAttempt, SessionDriver } from '../transfer/drivers.js';
import type { FileOutcome } from '../transfer/progress.js';
import { lsRequest } from './client.js';
import type { LocalSendDevices } from './devices.js';
import type { LocalSendIdentity } from './identity.js';

/** What each status of prepare-upload means for the user. */
function prepareError(status: number, name: string): P2pdError {
  switch (status) {
    case 401:
      return new P2pdError('PEER_REFUSED', `${name} asks for a PIN; sending with a PIN is not supported yet`);
    case 403:
      return new P2pdError('PEER_REFUSED', `${name} rejected the files`);
    case 409:
      return new P2pdError('PEER_BUSY', `${name} is busy with another transfer; try again later`);
    case 429:
      return new P2pdError('PEER_BUSY', `${name} refuses for now after too many PIN attempts`);
    default:
      return new P2pdError('PROTOCOL_UNEXPECTED', `${name} answered prepare-upload with HTTP ${status}`);
  }
}

export class LocalSendDriver implements SessionDriver {
  readonly protocol = 'localsend';
  readonly #devices: LocalSendDevices;
  readonly #identity: () => LocalSendIdentity | undefined;
  readonly #info: () => object;

  constructor(deps: { devices: LocalSendDevices; identity: () => LocalSendIdentity | undefined; info: () => object }) {
    this.#devices = deps.devices;
    this.#identity = deps.identity;
    this.#info = deps.info;
  }

  async send(attempt: OutgoingAttempt): Promise<AttemptResult> {
    const { signal, source } = attempt;
    const identity = this.#identity();
    const device = this.#devices.list().find((d) => d.fingerprint === attempt.peer.id);
    if (identity === undefined || device === undefined) {
      throw new P2pdError('PEER_UNREACHABLE', `the LocalSend device ${attempt.peer.name} is not seen on the LAN now`);
    }
    if (!device.verified) {
      throw new P2pdError('PEER_REFUSED', `${device.alias} speaks plain HTTP or did not prove its fingerprint; p2pd sends only over verified HTTPS`);
    }
    const target = { address: device.address, port: device.port, fingerprint: device.fingerprint };
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
    const prep = await lsRequest(target, { method: 'POST', path: 'prepare-upload', json: { info: this.#info(), files } }, { identity, signal });
    attempt.onConnected({ id: device.fingerprint, name: device.alias });
    if (prep.status === 204) return { ok: true, files: [] };
    if (prep.status !== 200) throw prepareError(prep.status, device.alias);
    const reply = prep.json as { sessionId?: unknown; files?: Record<string, unknown> } | null;
    if (typeof reply?.sessionId !== 'string' || typeof reply.files !== 'object' || reply.files === null) {
      throw new P2pdError('PROTOCOL_UNEXPECTED', `${device.alias} answered prepare-upload without a session`);
    }
    const progress = { phase: 'sending' as const, filesTotal: indexes.length, filesDone: 0, filesFailed: 0, bytesTotal: 0, bytesDone: 0 };
    for (const i of indexes) progress.bytesTotal += source.entries[i]!.size;
    const outcomes: FileOutcome[] = [];
    for (const i of indexes) {
      const entry = source.entries[i]!;
      const token = reply.files[String(i)];
      // The receiver may take only some of the files; the rest are not sent.
      if (typeof token !== 'string') continue;
      const counted = async function* (chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
        for await (const c of chunks) {
          progress.bytesDone += c.length;
          attempt.onProgress({ ...progress });
          yield c;
        }
      };
      const q = new URLSearchParams({ sessionId: reply.sessionId, fileId: String(i), token });
      const up = await lsRequest(
        target,
        { method: 'POST', path: `upload?${q.toString()}`, body: Readable.from(counted(source.read(i, { signal }))), length: entry.size },
        { identity, signal },
      );
      const ok = up.status === 200;
      const outcome: FileOutcome = ok
        ? { index: i, path: entry.path, ok, bytes: entry.size }
        : {
            index: i,
            path: entry.path,
            ok,
            error: { code: up.status === 422 ? 'HASH_MISMATCH' : 'PEER_REFUSED', message: `${device.alias} answered HTTP ${up.status}` },
          };
      if (ok) progress.filesDone++;
      else progress.filesFailed++;
      outcomes.push(outcome);
      attempt.onFileResult(outcome);
    }
    return { ok: outcomes.every((o) => o.ok), files: outcomes };
  }

  receive(): Promise<InboundResult> {
    return Promise.reject(new P2pdError('INTERNAL', 'LocalSend receives through its HTTPS server, not a driver'));
  }
}
