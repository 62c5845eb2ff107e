/**
 * `outbox/@<group>/`: an item dropped there goes to every member of the group. The outbox itself
 * stays one-peer-per-folder; this sender sits in front of the one-peer sender and answers "done"
 * for an item only once every member has it, so the item moves to `.sent/` then and not before.
 *
 * Each member is sent to on its own (in parallel) and remembered once it has the item, so a retry
 * goes only to the members still missing it, and an offline member never holds back the others:
 * they get the item as soon as they can, the item just stays until the last one has it.
 */
import { join } from 'node:path';
import { isErrorCode, type ErrorCode } from '../errors.js';
import type { PeerTable } from '../discovery/peer-table.js';
import { classifyFailure, type OutboxSender, type SendOutcome } from '../outbox/index.js';
import { probeItem, sameSignature, type ItemSignature } from '../outbox/signature.js';
import type { StateStore } from '../store/state.js';

export const GROUP_FOLDER_PREFIX = '@';

export type MemberState = 'done' | 'pending' | 'failed';

export interface MemberProgress {
  id: string;
  name: string;
  state: MemberState;
  transferId: string | null;
  lastError: { code: string; message: string } | null;
}

interface Entry {
  /** What the members got: a changed item starts over for everyone. */
  signature: ItemSignature | null;
  members: Map<string, Omit<MemberProgress, 'id' | 'name'>>;
}

export interface GroupOutboxSender extends OutboxSender {
  /** Each member's state for the item at `path` ("@lab/photos"), or undefined for a one-peer item. */
  members(path: string): MemberProgress[] | undefined;
}

export function groupOutboxSender(inner: OutboxSender, deps: { state: StateStore; peers: PeerTable }, options: { dir: string }): GroupOutboxSender {
  const entries = new Map<string, Entry>();
  const groupOf = (folder: string) => (folder.startsWith(GROUP_FOLDER_PREFIX) ? deps.state.getGroup(folder.slice(GROUP_FOLDER_PREFIX.length)) : undefined);
  const nameOf = (id: string): string => deps.state.getTrusted(id)?.name ?? deps.peers.get(id)?.name ?? id.slice(0, 7);

  /** What a daemon that ran before knew: the members that already have the item. */
  const restored = (key: string): Entry | undefined => {
    const saved = deps.state.groupDelivery(key);
    if (saved === undefined) return undefined;
    const members: Entry['members'] = new Map(saved.done.map((id) => [id, { state: 'done', transferId: null, lastError: null }]));
    return { signature: saved.signature, members };
  };
  const remember = (key: string, entry: Entry): void => {
    const done = [...entry.members].filter(([, m]) => m.state === 'done').map(([id]) => id);
    deps.state.setGroupDelivery(key, { signature: entry.signature, done });
  };
  const forget = (key: string): void => {
    entries.delete(key);
    deps.state.setGroupDelivery(key, undefined);
  };

  const entryFor = async (key: string, members: readonly string[], signal: AbortSignal): Promise<Entry> => {
    let signature: ItemSignature | null = null;
    try {
      const probe = await probeItem(key, { signal });
      if (probe.type === 'item') signature = probe.signature;
    } catch {
      // The send itself reports a missing or unreadable item.
    }
    let entry = entries.get(key) ?? restored(key);
    if (entry === undefined || entry.signature === null || signature === null || !sameSignature(entry.signature, signature)) {
      entry = { signature, members: new Map() };
      deps.state.setGroupDelivery(key, undefined);
    }
    entries.set(key, entry);
    // Members added since keep no state yet; members removed from the group are no longer waited for.
    for (const id of [...entry.members.keys()]) if (!members.includes(id)) entry.members.delete(id);
    for (const id of members) if (!entry.members.has(id)) entry.members.set(id, { state: 'pending', transferId: null, lastError: null });
    return entry;
  };

  const sendToGroup = async (folder: string, paths: string[], signal: AbortSignal): Promise<SendOutcome> => {
    const group = groupOf(folder);
    if (group === undefined) {
      const name = folder.slice(GROUP_FOLDER_PREFIX.length);
      return { ok: false, transferId: null, code: 'GROUP_NOT_FOUND', message: `no group is called "${name}"; \`p2pd group add ${name} <peer>…\` creates it` };
    }
    const key = paths[0]!;
    const entry = await entryFor(key, group.members, signal);
    const pending = [...entry.members].filter(([, m]) => m.state !== 'done');
    await Promise.all(
      pending.map(async ([id, m]) => {
        if (!inner.isOnline(id)) {
          m.state = 'pending';
          m.lastError = { code: 'PEER_UNREACHABLE', message: `${nameOf(id)} is not online` };
          return;
        }
        const r = await inner.send(id, paths, { signal });
        m.transferId = r.transferId ?? m.transferId;
        if (r.ok) {
          m.state = 'done';
          m.lastError = null;
          remember(key, entry);
        } else {
          const code: ErrorCode = isErrorCode(r.code) ? r.code : 'INTERNAL';
          m.state = classifyFailure(code) === 'permanent' ? 'failed' : 'pending';
          m.lastError = { code, message: r.message };
        }
      }),
    );
    const all = [...entry.members.values()];
    const last = all.find((m) => m.transferId !== null)?.transferId ?? null;
    if (all.every((m) => m.state === 'done')) {
      forget(key);
      return { ok: true, transferId: last ?? '' };
    }
    // While any member may still get it, the item keeps retrying; only when every missing member
    // refused for good does it go to .failed.
    const missing = all.filter((m) => m.state !== 'done');
    const worst = missing.find((m) => m.state === 'pending') ?? missing[0]!;
    const error = worst.lastError ?? { code: 'PEER_UNREACHABLE', message: 'a member of the group is not online' };
    if (missing.every((m) => m.state === 'failed')) forget(key);
    return { ok: false, transferId: worst.transferId ?? last, code: error.code as ErrorCode, message: error.message };
  };

  return {
    send(peer, paths, { signal }) {
      return peer.startsWith(GROUP_FOLDER_PREFIX) ? sendToGroup(peer, paths, signal) : inner.send(peer, paths, { signal });
    },
    isOnline(peer) {
      if (!peer.startsWith(GROUP_FOLDER_PREFIX)) return inner.isOnline(peer);
      const group = groupOf(peer);
      // An unknown group is "online" so that the send runs and reports GROUP_NOT_FOUND.
      if (group === undefined) return true;
      return group.members.some((id) => inner.isOnline(id));
    },
    members(path) {
      const slash = path.indexOf('/');
      if (!path.startsWith(GROUP_FOLDER_PREFIX) || slash === -1) return undefined;
      const group = groupOf(path.slice(0, slash));
      const entry = entries.get(join(options.dir, path)) ?? restored(join(options.dir, path));
      const ids = group?.members ?? [...(entry?.members.keys() ?? [])];
      return ids.map((id) => {
        const m = entry?.members.get(id);
        return { id, name: nameOf(id), state: m?.state ?? 'pending', transferId: m?.transferId ?? null, lastError: m?.lastError ?? null };
      });
    },
  };
}
