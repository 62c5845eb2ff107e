/**
 * Files from the browser to a peer: each file is uploaded as a raw PUT into a staging batch of
 * the daemon, then the batch is sent with the ordinary `send`. What the page sent is remembered
 * (by transfer id) so that a failed send can be retried.
 */
import { call, newBatch, sendBatch, uploadFile } from './api.js';
import type { Live } from './state.js';

export interface Pick {
  /** Relative, "/"-separated (a dropped folder keeps its structure). */
  path: string;
  file: File;
}

export interface Upload {
  id: number;
  peer: string;
  label: string;
  sent: number;
  total: number;
  files: number;
  state: 'uploading' | 'sent' | 'failed';
  error: string | null;
  transferId: string | null;
}

export const uploads = new Map<number, Upload>();
/** Transfer id → how to send the same again. */
export const retries = new Map<string, () => Promise<void>>();
let nextId = 1;

/** Files of a drop, folders walked (where the browser exposes entries). */
export async function picksFromDrop(dt: DataTransfer): Promise<Pick[]> {
  const entries = [...dt.items].map((i) => (i.kind === 'file' ? (i as any).webkitGetAsEntry?.() : null));
  if (entries.length === 0 || entries.some((e) => e === null || e === undefined)) {
    return [...dt.files].map((file) => ({ path: file.name, file }));
  }
  const out: Pick[] = [];
  const walk = async (entry: any, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file: File = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ path: prefix + entry.name, file });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch: any[] = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}

export function picksFromInput(list: FileList): Pick[] {
  return [...list].map((file) => ({ path: (file as any).webkitRelativePath || file.name, file }));
}

export async function uploadAndSend(live: Live, peer: { id: string; displayName: string }, picks: Pick[]): Promise<void> {
  if (picks.length === 0) return;
  const u: Upload = {
    id: nextId++,
    peer: peer.displayName,
    label: picks.length === 1 ? picks[0]!.path : `${picks.length} files`,
    sent: 0,
    total: picks.reduce((n, p) => n + p.file.size, 0),
    files: picks.length,
    state: 'uploading',
    error: null,
    transferId: null,
  };
  uploads.set(u.id, u);
  live.changed();
  try {
    const batch = await newBatch();
    let before = 0;
    for (const p of picks) {
      await uploadFile(batch, p.path, p.file, (n) => {
        u.sent = before + n;
        live.changed();
      });
      before += p.file.size;
    }
    const r = await sendBatch(batch, peer.id);
    u.state = 'sent';
    u.transferId = r.transfer.id;
    retries.set(r.transfer.id, () => uploadAndSend(live, peer, picks));
  } catch (err) {
    u.state = 'failed';
    u.error = (err as Error).message;
  }
  live.changed();
}

/** Files the daemon can read itself (the path picker): nothing is copied. */
export async function sendPaths(live: Live, peer: { id: string; displayName: string }, paths: string[]): Promise<void> {
  const r = await call<any>('send', { peer: peer.id, paths, detach: true });
  retries.set(r.transfer.id, () => sendPaths(live, peer, paths));
  live.changed();
}
