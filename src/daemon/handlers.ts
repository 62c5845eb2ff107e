/** What each control-socket method does, in terms of the daemon's parts. */
import type { CallContext, MethodHandlers } from '../control/dispatcher.js';
import type { WatchParams } from '../control/methods.js';
import type { IdView, PeerView } from '../control/views.js';
import type { PeerTable } from '../discovery/peer-table.js';
import { resolvePeer } from '../discovery/resolve.js';
import { cleanPeerName } from '../discovery/mdns.js';
import type { StateStore } from '../store/state.js';
import { formatPeerId, parsePeerId } from '../transport/index.js';
import type { TransferManager } from '../transfer/manager.js';
import type { StatusView } from '../control/views.js';
import type { PairingManager } from '../transfer/pairings.js';
import { peerViews } from './peers-view.js';
import type { SendQueue } from './send-queue.js';
import type { LocalSendSendOptions } from '../localsend/index.js';
import { newTransferId } from '../transfer/records.js';
import type { Outbox } from '../outbox/index.js';
import type { JobView as JobRecord } from './scheduler.js';
import { fanoutHandlers } from './fanout.js';
import type { MemberProgress } from './outbox-groups.js';
import { jobView, offerView, outboxItemView, pairingView, transferView, type TransferRecord } from './views.js';

export interface HandlerDeps {
  manager: TransferManager;
  pairings: PairingManager;
  sends: SendQueue;
  peers: PeerTable;
  state: StateStore;
  identityView: () => IdView;
  startedAt: number;
  pid: number;
  outbox: Pick<Outbox, 'queue' | 'ensurePeerFolder'>;
  jobs: () => JobRecord[];
  /** Tells the `watch` stream that trust changed a peer. */
  peersChanged: () => void;
  /** Each member's state of an outbox item of a group folder (`@lab/…`); undefined for others. */
  outboxMembers?: (path: string) => MemberProgress[] | undefined;
  /** The `watch` method: streams events until the caller hangs up. */
  watch: (params: WatchParams, ctx: CallContext<'watch'>) => Promise<null>;
  /** LocalSend devices seen on the LAN, as peers (absent when LocalSend is off). */
  localsend?: () => PeerView[];
  /** Hands a send's LocalSend options (PIN, plain-HTTP opt-in) to the LocalSend driver until the returned function is called. */
  localsendOptions?: (transferId: string, options: LocalSendSendOptions) => () => void;
}

/** The methods the web dashboard added; daemon/dashboard.ts handles them. */
export type DashboardMethod = 'ui-token' | 'ui-login' | 'browse' | 'settings' | 'settings-set';
export type CoreHandlers = Omit<MethodHandlers, DashboardMethod>;

/** The ready gate and params checks are the dispatcher's (control/dispatcher.ts). */
export function controlHandlers(deps: HandlerDeps): CoreHandlers {
  const { manager, peers, state } = deps;
  const fanout = fanoutHandlers({
    manager,
    sends: deps.sends,
    peers,
    state,
    selfId: () => deps.identityView().id,
    ensureGroupFolder: (group) => deps.outbox.ensurePeerFolder(`@${group}`),
  });
  return { ...makeHandlers(deps, manager, peers, state), ...fanout };
}

/** A peer known only by the id a person typed: never seen, named by its short id. */
function unseenPeer(id: string, protocol?: 'localsend'): PeerView {
  const short = id.slice(0, 7);
  return {
    id,
    shortId: short,
    name: short,
    displayName: short,
    addresses: [],
    trusted: false,
    trustedName: null,
    online: false,
    lastSeen: null,
    impersonates: null,
    ...(protocol === undefined ? {} : { protocol }),
  };
}

/** The methods this file answers itself; the rest are the dashboard's and fanout.ts's. */
type OwnHandlers = Omit<CoreHandlers, keyof ReturnType<typeof fanoutHandlers>>;

function makeHandlers(deps: HandlerDeps, manager: TransferManager, peers: PeerTable, state: StateStore): OwnHandlers {
  const findPeer = (query: string): PeerView => {
    // A LocalSend device can be trusted only by a fingerprint its certificate proved, never by a claim.
    const views = [...peerViews(peers, state), ...(deps.localsend?.() ?? []).filter((v) => v.verified === true)];
    if (/^[0-9a-fA-F]{64}$/.test(query) && !views.some((v) => v.id === query.toUpperCase())) {
      return unseenPeer(query.toUpperCase(), 'localsend');
    }
    const fullId = parsePeerId(query);
    // A full id read aloud by its owner may be trusted before the peer was ever seen.
    if (fullId !== null && !views.some((v) => v.id === fullId)) return unseenPeer(fullId);
    const hit = resolvePeer(
      query,
      views.map((v) => ({ ...v, name: v.name })),
    );
    return views.find((v) => v.id === hit.id)!;
  };

  return {
    async id() {
      return deps.identityView();
    },

    async peers() {
      return { peers: [...peerViews(peers, state), ...(deps.localsend?.() ?? [])] };
    },

    async trust(params) {
      const peer = findPeer(params.peer.trim());
      const already = state.getTrusted(peer.id) !== undefined;
      const given = params.name === undefined ? '' : cleanPeerName(params.name);
      // Re-trusting keeps the name the user chose unless a new one is given.
      const name = given !== '' ? given : (state.getTrusted(peer.id)?.name ?? peer.name);
      state.trust({ id: peer.id, name });
      // The answer means "trusted": it comes once the trust is on disk.
      await state.flush();
      deps.peersChanged();
      // A trusted peer gets its outbox folder, so dropping files to it needs no set-up.
      await deps.outbox.ensurePeerFolder(name).catch(() => undefined);
      const view = peerViews(peers, state).find((v) => v.id === peer.id) ?? { ...peer, trusted: true, trustedName: name };
      return { peer: view, fingerprint: formatPeerId(peer.id), alreadyTrusted: already };
    },

    async untrust(params) {
      const peer = findPeer(params.peer.trim());
      const removed = state.untrust(peer.id);
      await state.flush();
      deps.peersChanged();
      const view = peerViews(peers, state).find((v) => v.id === peer.id) ?? { ...peer, trusted: false, trustedName: null };
      return { peer: view, removed };
    },

    async send(params, ctx) {
      // The id is chosen here so the LocalSend options are in place before the first attempt.
      const transferId = newTransferId();
      // Events only while the call is open: a detached send has answered already.
      let open = true;
      let warned = false;
      const forget = deps.localsendOptions?.(transferId, {
        ...(params.pin === undefined ? {} : { pin: params.pin }),
        ...(params.allowHttp === undefined ? {} : { allowHttp: params.allowHttp }),
        onPlainHttp: (d) => {
          const message = `${d.alias} (${d.address}) speaks plain HTTP: the files cross the LAN unencrypted, and nothing proves who receives them`;
          // Once per send, not once per attempt.
          if (open && !warned) ctx.emit('warning', { code: 'PLAIN_HTTP', message });
          warned = true;
        },
      });
      let started: Awaited<ReturnType<SendQueue['start']>>;
      try {
        started = await deps.sends.start(params.peer.trim(), params.paths, {
          signal: ctx.signal,
          retry: params.queue === true ? 'always' : 'connected',
          id: transferId,
        });
      } catch (err) {
        forget?.();
        throw err;
      }
      const { id, done, source } = started;
      void done.finally(() => forget?.()).catch(() => undefined);
      if (params.detach === true) {
        open = false;
        return { transfer: transferView(manager.get(id)!), skipped: [...source.skipped] };
      }
      const onUpdate = (v: TransferRecord): void => {
        if (v.id === id) ctx.emit('progress', transferView(v));
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
        const record = await done;
        return { transfer: transferView(record), skipped: [...source.skipped] };
      } finally {
        open = false;
        manager.off('update', onUpdate);
        ctx.signal.removeEventListener('abort', onHangup);
      }
    },

    async status() {
      const me = deps.identityView();
      const view: StatusView = {
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
        transfers: manager.list().map((r) => transferView(r)),
        inbound: manager.inbound(),
        outbox: deps.outbox.queue().map((item) => {
          const view = outboxItemView(item);
          const members = deps.outboxMembers?.(item.path);
          return members === undefined ? view : { ...view, members };
        }),
        jobs: deps.jobs().map(jobView),
      };
      return view;
    },

    async cancel(params) {
      return { transfer: transferView(manager.cancel(params.id.trim())) };
    },

    async incoming() {
      return { offers: manager.incoming().map(offerView), pairings: deps.pairings.list().map(pairingView) };
    },

    async pair(params, ctx) {
      const name = params.name === undefined ? '' : cleanPeerName(params.name);
      const r = await deps.pairings.initiate(params.peer.trim(), {
        signal: ctx.signal,
        ...(name === '' ? {} : { name }),
        onCode: (record) => ctx.emit('code', pairingView(record)),
      });
      const view = peerViews(peers, state).find((v) => v.id === r.peer.id);
      return { peer: view ?? { id: r.peer.id, name: r.peer.name }, code: r.code, fingerprint: formatPeerId(r.peer.id), trusted: true };
    },

    async pairings() {
      return { pairings: deps.pairings.list().map(pairingView) };
    },

    async 'pair-answer'(params) {
      const id = params.id !== undefined && params.id.trim() !== '' ? params.id.trim() : undefined;
      return { pairing: pairingView(deps.pairings.answer(id, params.ok)) };
    },

    async accept(params) {
      // Choices are checked by the gate against the offer (NAME_INVALID, USAGE); a refused
      // choice leaves the offer waiting.
      const choices = {
        accept: true,
        ...(params.to === undefined ? {} : { to: params.to }),
        ...(params.files === undefined ? {} : { files: params.files }),
      };
      return { offer: offerView(manager.answer(params.id.trim(), choices)), accepted: true };
    },

    async reject(params) {
      return { offer: offerView(manager.answer(params.id.trim(), false)), accepted: false };
    },

    async watch(params, ctx) {
      return deps.watch(params, ctx);
    },
  };
}
