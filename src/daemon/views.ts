/**
 * The daemon's internal records mapped to the control API's views (control/views.ts), field by
 * field: a record may grow fields of its own without any of them leaking into the stable
 * `--json` documents, and a view keeps its shape whatever the record becomes.
 */
import type { Config } from '../config/types.js';
import { PROTOCOL_VERSION } from '../protocol/messages.js';
import { formatPeerId } from '../transport/index.js';
import type { IdView, IncomingOfferView, JobView, OutboxItemView, PairingView, TransferView } from '../control/views.js';
import type { PendingOffer as PendingOfferRecord } from '../transfer/admission.js';
import type { TransferRecord } from '../transfer/records.js';
import type { PairingRecord } from '../transfer/pairings.js';
import type { OutboxItemView as OutboxItemRecord } from '../outbox/ports.js';
import type { JobView as JobRecord } from './scheduler.js';

export type { TransferRecord, PendingOfferRecord, PairingRecord, OutboxItemRecord };

/** `files` is kept only when the record has it and `withFiles` is not false. */
export function transferView(r: TransferRecord, options: { withFiles?: boolean } = {}): TransferView {
  const view: TransferView = {
    id: r.id,
    direction: r.direction,
    peer: { id: r.peer.id, name: r.peer.name },
    state: r.state,
    filesTotal: r.filesTotal,
    filesDone: r.filesDone,
    filesFailed: r.filesFailed,
    bytesTotal: r.bytesTotal,
    bytesDone: r.bytesDone,
    bytesPerSecond: r.bytesPerSecond,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    error: r.error === null ? null : { code: r.error.code, message: r.error.message },
    attempts: r.attempts,
    resumedFrom: r.resumedFrom,
    nextAttemptAt: r.nextAttemptAt,
  };
  // History entries written by builds before resume lack these three; show them as they are.
  if (r.attempts === undefined) delete (view as Partial<TransferView>).attempts;
  if (r.resumedFrom === undefined) delete (view as Partial<TransferView>).resumedFrom;
  if (r.nextAttemptAt === undefined) delete (view as Partial<TransferView>).nextAttemptAt;
  if (r.origin !== undefined) view.origin = r.origin;
  if (r.filesDeclined !== undefined) view.filesDeclined = r.filesDeclined;
  if (r.current !== undefined && r.endedAt === null) view.current = { ...r.current };
  if (r.files !== undefined && options.withFiles !== false) {
    view.files = r.files.map((f) => ({
      index: f.index,
      path: f.path,
      ok: f.ok,
      ...(f.bytes === undefined ? {} : { bytes: f.bytes }),
      ...(f.savedAs === undefined ? {} : { savedAs: f.savedAs }),
      ...(f.error === undefined ? {} : { error: { code: f.error.code, message: f.error.message } }),
    }));
  }
  return view;
}

export function offerView(r: PendingOfferRecord): IncomingOfferView {
  return {
    id: r.id,
    peer: { id: r.peer.id, name: r.peer.name, trusted: r.peer.trusted },
    files: r.files,
    bytes: r.bytes,
    names: [...r.names],
    ...(r.entries === undefined ? {} : { entries: r.entries.map((e) => ({ ...e })) }),
    ...(r.refused === undefined || r.refused.length === 0 ? {} : { refused: r.refused.map((e) => ({ ...e })) }),
    receivedAt: r.receivedAt,
    expiresAt: r.expiresAt,
  };
}

export function pairingView(r: PairingRecord): PairingView {
  return {
    id: r.id,
    direction: r.direction,
    peer: { id: r.peer.id, name: r.peer.name },
    code: r.code,
    state: r.state,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
  };
}

export function outboxItemView(r: OutboxItemRecord): OutboxItemView {
  return {
    peer: r.peer,
    path: r.path,
    kind: r.kind,
    bytes: r.bytes,
    state: r.state,
    attempts: r.attempts,
    lastError: r.lastError === null ? null : { code: r.lastError.code, message: r.lastError.message },
    transferId: r.transferId,
    since: r.since,
  };
}

export function jobView(r: JobRecord): JobView {
  return {
    name: r.name,
    schedule: r.schedule,
    runs: r.runs,
    lastRunAt: r.lastRunAt,
    lastError: r.lastError === null ? null : { code: r.lastError.code, message: r.lastError.message },
    nextRunAt: r.nextRunAt,
  };
}

/** What `p2pd id` shows: this daemon's name, identity and where it listens. */
export function identityView(config: Readonly<Config>, id: string, port: number, version: string): IdView {
  return {
    name: config.name,
    id,
    fingerprint: formatPeerId(id),
    shortId: id.slice(0, 7),
    port,
    version,
    protocolVersion: PROTOCOL_VERSION,
    inbox: config.inbox,
    controlSocket: config.controlSocket,
  };
}
