/** What each control-socket method does, in terms of the daemon's parts. */
import { P2pdError } from '../errors.js';
import type { Handlers } from '../control/server.js';
import type { IdView, PeerView, SendResultView, StatusView, TrustResultView, UntrustResultView } from '../control/api.js';
import type { PeerTable } from '../discovery/peer-table.js';
import { resolvePeer } from '../discovery/resolve.js';
import { cleanPeerName } from '../discovery/mdns.js';
import type { StateStore } from '../store/state.js';
import { formatPeerId, parsePeerId } from '../transport/index.js';
import type { TransferManager } from '../transfer/manager.js';
import type { TransferRecord } from '../transfer/records.js';
import type { InboundConnectionView } from '../transfer/admission.js';
import type { PairingManager, PairingRecord } from '../transfer/pairings.js';
import { peerViews } from './peers-view.js';
import type { SendQueue } from './send-queue.js';
import type { Outbox } from '../outbox/index.js';
import type { JobView } from './scheduler.js';

export interface HandlerDeps {
  manager: TransferManager;
  pairings: PairingManager;
  sends: SendQueue;
  peers: PeerTable;
  state: StateStore;
  identityView: () => IdView;
  startedAt: number;
  pid: number;
  isReady: () => boolean;
  outbox: Pick<Outbox, 'queue' | 'ensurePeerFolder'>;
  jobs: () => JobView[];
}

export function controlHandlers(deps: HandlerDeps): Handlers {
  const { manager, peers, state } = deps;
  const handlers = makeHandlers(deps, manager, peers, state);
  // The control socket opens before the listener (it is the single-instance lock), so requests
  // that arrive while the daemon is still starting get a clear "try again".
  return Object.fromEntries(
    Object.entries(handlers).map(([method, handler]) => [
      method,
      async (params, ctx) => {
        if (!deps.isReady()) throw new P2pdError('DAEMON_NOT_RUNNING', 'the daemon is still starting; try again in a moment');
        return handler(params, ctx);
      },
    ]),
  ) as Handlers;
}

function makeHandlers(deps: HandlerDeps, manager: TransferManager, peers: PeerTable, state: StateStore): Handlers {

  const findPeer = (query: string): PeerView => {
    const views = peerViews(peers, state);
    const fullId = parsePeerId(query);
    if (fullId !== null && !views.some((v) => v.id === fullId)) {
      // A full id read aloud by its owner may be trusted before the peer was ever seen.
      const short = fullId.slice(0, 7);
      return { id: fullId, shortId: short, name: short, displayName: short, addresses: [], trusted: false, trustedName: null, online: false, lastSeen: null, impersonates: null };
    }
    const hit = resolvePeer(query, views.map((v) => ({ ...v, name: v.name })));
    return views.find((v) => v.id === hit.id)!;
  };

  return {
    async id() {
      return deps.identityView();
    },

    async peers() {
      return { peers: peerViews(peers, state) };
    },

    async trust(params): Promise<TrustResultView> {
      const peer = findPeer(str(params, 'peer'));
      const already = state.getTrusted(peer.id) !== undefined;
      const given = typeof params.name === 'string' ? cleanPeerName(params.name) : '';
      // Re-trusting keeps the name the user chose unless a new one is given.
      const name = given !== '' ? given : (state.getTrusted(peer.id)?.name ?? peer.name);
      state.trust({ id: peer.id, name });
      // The answer means "trusted": it comes once the trust is on disk.
      await state.flush();
      // A trusted peer gets its outbox folder, so dropping files to it needs no set-up.
      await deps.outbox.ensurePeerFolder(name).catch(() => undefined);
      const view = peerViews(peers, state).find((v) => v.id === peer.id) ?? { ...peer, trusted: true, trustedName: name };
      return { peer: view, fingerprint: formatPeerId(peer.id), alreadyTrusted: already };
    },

    async untrust(params): Promise<UntrustResultView> {
      const peer = findPeer(str(params, 'peer'));
      const removed = state.untrust(peer.id);
      await state.flush();
      const view = peerViews(peers, state).find((v) => v.id === peer.id) ?? { ...peer, trusted: false, trustedName: null };
      return { peer: view, removed };
    },

    async send(params, ctx): Promise<SendResultView> {
      const peer = str(params, 'peer');
      const paths = params.paths;
      if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p.startsWith('/'))) {
        throw new P2pdError('CONTROL_BAD_REQUEST', '"paths" must be a non-empty list of absolute paths');
      }
      const { id, done, source } = await deps.sends.start(peer, paths as string[], {
        signal: ctx.signal,
        retry: params.queue === true ? 'always' : 'connected',
      });
      if (params.detach === true) {
        return { transfer: manager.get(id)!, skipped: [...source.skipped] };
      }
      const onUpdate = (v: TransferRecord): void => {
        if (v.id === id) ctx.emit('progress', v);
      };
      manager.on('update', onUpdate);
      // A CLI that goes away (Ctrl-C) takes its transfer with it; --detach is the way to leave one running.
      const onHangup = (): void => {
        try {
          manager.cancel(id);
        } catch {
          // already ended
        }
      };
      ctx.signal.addEventListener('abort', onHangup, { once: true });
      try {
        const view = await done;
        return { transfer: view, skipped: [...source.skipped] };
      } finally {
        manager.off('update', onUpdate);
        ctx.signal.removeEventListener('abort', onHangup);
      }
    },

    async status(): Promise<StatusView> {
      const me = deps.identityView();
      // `inbound` (connections that hold resources but are no transfer yet) is additive; the
      // StatusView type in control/api.ts gains it when the control API is next changed.
      const view: StatusView & { inbound: InboundConnectionView[] } = {
        daemon: {
          name: me.name,
          id: me.id,
          version: me.version,
          pid: deps.pid,
          uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
          port: me.port,
          inbox: me.inbox,
          peersOnline: peers.list().length,
        },
        transfers: manager.list(),
        inbound: manager.inbound(),
        outbox: deps.outbox.queue(),
        jobs: deps.jobs(),
      };
      return view;
    },

    async cancel(params) {
      return { transfer: manager.cancel(str(params, 'id')) };
    },

    async incoming() {
      return { offers: manager.incoming(), pairings: deps.pairings.list() };
    },

    async pair(params, ctx) {
      const name = typeof params.name === 'string' ? cleanPeerName(params.name) : '';
      const r = await deps.pairings.initiate(str(params, 'peer'), {
        signal: ctx.signal,
        ...(name === '' ? {} : { name }),
        onCode: (view: PairingRecord) => ctx.emit('code', view),
      });
      const view = peerViews(peers, state).find((v) => v.id === r.peer.id);
      return { peer: view ?? r.peer, code: r.code, fingerprint: formatPeerId(r.peer.id), trusted: true };
    },

    async pairings() {
      return { pairings: deps.pairings.list() };
    },

    async 'pair-answer'(params) {
      const id = typeof params.id === 'string' && params.id.trim() !== '' ? params.id.trim() : undefined;
      if (typeof params.ok !== 'boolean') throw new P2pdError('CONTROL_BAD_REQUEST', '"ok" must be true or false');
      return { pairing: deps.pairings.answer(id, params.ok) };
    },

    async accept(params) {
      return { offer: manager.answer(str(params, 'id'), true), accepted: true };
    },

    async reject(params) {
      return { offer: manager.answer(str(params, 'id'), false), accepted: false };
    },
  };
}

function str(params: Record<string, unknown>, key: string): string {
  const v = params[key];
  if (typeof v !== 'string' || v.trim() === '') throw new P2pdError('CONTROL_BAD_REQUEST', `"${key}" must be a non-empty string`);
  return v.trim();
}
