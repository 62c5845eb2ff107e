/**
 * Sending to several peers at once, and the groups of peers that name them.
 *
 * Every target is resolved to an id before anything is sent, so a typo or an ambiguous name has
 * no effect at all. Each peer then gets its own send through the SendQueue: its own retries,
 * resume and place in the state file, so a slow or offline peer never holds back the others.
 * Each transfer reads the files itself; the page cache shares the reads when the peers keep a
 * similar pace (docs/ARCHITECTURE.md, "Sending to several peers").
 */
import type { CallContext } from '../control/dispatcher.js';
import type { GroupParams, SendManyParams } from '../control/methods.js';
import type { FanoutOutcome, GroupChangeResultView, GroupView, PeerView, SendManyResultView, TransferState } from '../control/views.js';
import type { PeerTable } from '../discovery/peer-table.js';
import { resolvePeer } from '../discovery/resolve.js';
import { P2pdError } from '../errors.js';
import type { PeerGroup, StateStore } from '../store/state.js';
import type { TransferManager } from '../transfer/manager.js';
import type { TransferRecord } from '../transfer/records.js';
import { parsePeerId } from '../transport/index.js';
import { peerViews } from './peers-view.js';
import type { SendQueue } from './send-queue.js';
import { transferView } from './views.js';

export interface FanoutDeps {
  manager: TransferManager;
  sends: SendQueue;
  peers: PeerTable;
  state: StateStore;
  /** This daemon's own id: never a target. */
  selfId: () => string;
  /** Creates `outbox/@<group>/` so that dropping files to a group needs no set-up. */
  ensureGroupFolder?: (group: string) => Promise<void>;
}

/** Every peer got every file: done; some peers did: partial; none did: failed. */
export function fanoutOutcome(transfers: ReadonlyArray<{ state: TransferState; filesDeclined?: number }>): FanoutOutcome {
  // A peer that declined some files got less than was sent: the send as a whole is partial.
  const complete = transfers.filter((t) => t.state === 'done' && (t.filesDeclined ?? 0) === 0).length;
  if (transfers.length > 0 && complete === transfers.length) return 'done';
  const done = transfers.filter((t) => t.state === 'done').length;
  return done === 0 ? 'failed' : 'partial';
}

/** The ids a `send-many` goes to, in the order named, each once; throws before any effect. */
export function sendTargets(params: Pick<SendManyParams, 'peers' | 'group' | 'allTrusted'>, deps: Pick<FanoutDeps, 'peers' | 'state' | 'selfId'>): string[] {
  const given = [params.peers !== undefined, params.group !== undefined, params.allTrusted === true].filter(Boolean).length;
  if (given !== 1) throw new P2pdError('USAGE', 'name whom to send to with exactly one of: peers (a,b,c), --group <group> or --all-trusted');
  let ids: string[];
  if (params.peers !== undefined) {
    const views = peerViews(deps.peers, deps.state);
    ids = params.peers.map((q) => findPeerId(q, views, false));
  } else if (params.group !== undefined) {
    ids = requireGroup(deps.state, params.group).members;
  } else {
    ids = deps.state.trusted().map((t) => t.id);
    if (ids.length === 0) throw new P2pdError('PEER_NOT_FOUND', 'no peer is trusted yet: `p2pd trust <peer>` or `p2pd pair <peer>` trusts one');
  }
  const self = deps.selfId();
  if (ids.includes(self)) throw new P2pdError('USAGE', 'this daemon itself is among the peers named; name other machines');
  return [...new Set(ids)];
}

/** One peer's id; a full id never seen is taken as it is when `allowUnseen` (groups, like trust). */
function findPeerId(query: string, views: readonly PeerView[], allowUnseen: boolean): string {
  const q = query.trim();
  const fullId = parsePeerId(q);
  if (fullId !== null && (allowUnseen || views.some((v) => v.id === fullId))) return fullId;
  return resolvePeer(q, views).id;
}

function requireGroup(state: StateStore, name: string): PeerGroup {
  const g = state.getGroup(name);
  if (g === undefined) throw new P2pdError('GROUP_NOT_FOUND', `no group is called "${name}"; \`p2pd group list\` shows them`, { details: { group: name } });
  return g;
}

function groupView(g: PeerGroup, views: readonly PeerView[]): GroupView {
  const byId = new Map(views.map((v) => [v.id, v]));
  return {
    name: g.name,
    createdAt: g.createdAt,
    members: g.members.map((id) => {
      const v = byId.get(id);
      return { id, name: v?.trustedName ?? v?.name ?? id.slice(0, 7), trusted: v?.trusted === true, online: v?.online === true };
    }),
  };
}

export function fanoutHandlers(deps: FanoutDeps): {
  'send-many': (params: SendManyParams, ctx: CallContext<'send-many'>) => Promise<SendManyResultView>;
  groups: () => Promise<{ groups: GroupView[] }>;
  'group-add': (params: GroupParams) => Promise<GroupChangeResultView>;
  'group-remove': (params: GroupParams) => Promise<GroupChangeResultView>;
} {
  const { state } = deps;
  const views = (): PeerView[] => peerViews(deps.peers, state);
  return {
    'send-many': (params, ctx) => sendMany(deps, params, ctx),

    async groups() {
      const v = views();
      return { groups: state.groups().map((g) => groupView(g, v)) };
    },

    async 'group-add'(params) {
      const v = views();
      const ids = (params.peers ?? []).map((q) => findPeerId(q, v, true));
      if (ids.includes(deps.selfId())) throw new P2pdError('USAGE', 'this daemon itself cannot be a member of a group');
      const old = state.getGroup(params.group)?.members ?? [];
      const group = state.setGroup(params.group, [...old, ...ids])!;
      await state.flush();
      await deps.ensureGroupFolder?.(params.group).catch(() => undefined);
      return { group: groupView(group, v), changed: ids.filter((id) => !old.includes(id)) };
    },

    async 'group-remove'(params) {
      const old = requireGroup(state, params.group);
      const v = views();
      // Members are looked up among the group's own ids too, so a member never seen can be removed.
      const known = new Set(v.map((p) => p.id));
      const candidates = [...v, ...old.members.filter((id) => !known.has(id)).map((id) => ({ id, name: id.slice(0, 7) }))];
      const drop = params.peers === undefined ? old.members : params.peers.map((q) => findPeerId(q, candidates as PeerView[], true));
      const kept = old.members.filter((id) => !drop.includes(id));
      const group = state.setGroup(params.group, kept);
      await state.flush();
      return { group: group === undefined ? null : groupView(group, v), changed: old.members.filter((id) => drop.includes(id)) };
    },
  };
}

async function sendMany(deps: FanoutDeps, params: SendManyParams, ctx: CallContext<'send-many'>): Promise<SendManyResultView> {
  const { manager } = deps;
  const ids = sendTargets(params, deps);
  const retry = params.queue === true ? 'always' : 'connected';
  const started: Array<Awaited<ReturnType<SendQueue['start']>>> = [];
  try {
    for (const id of ids) started.push(await deps.sends.start(id, params.paths, { signal: ctx.signal, retry }));
  } catch (err) {
    // Only the source can fail here (the same paths for every peer): leave no partial fan-out.
    for (const s of started) cancelQuietly(manager, s.id);
    throw err;
  }
  const skipped = [...(started[0]?.source.skipped ?? [])];
  const transferIds = new Set(started.map((s) => s.id));
  if (params.detach === true) {
    return { transfers: started.map((s) => transferView(manager.get(s.id)!)), skipped, outcome: 'queued' };
  }
  const onUpdate = (r: TransferRecord): void => {
    if (transferIds.has(r.id)) ctx.emit('progress', transferView(r));
  };
  manager.on('update', onUpdate);
  // A CLI that goes away (Ctrl-C) takes every transfer of the fan-out with it, as `send` does.
  const onHangup = (): void => {
    for (const id of transferIds) cancelQuietly(manager, id);
  };
  ctx.signal.addEventListener('abort', onHangup, { once: true });
  try {
    const records = await Promise.all(started.map((s) => s.done));
    const transfers = records.map((r) => transferView(r));
    return { transfers, skipped, outcome: fanoutOutcome(transfers) };
  } finally {
    manager.off('update', onUpdate);
    ctx.signal.removeEventListener('abort', onHangup);
  }
}

function cancelQuietly(manager: TransferManager, id: string): void {
  try {
    manager.cancel(id);
  } catch {
    // already ended
  }
}
