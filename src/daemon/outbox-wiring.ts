/** How the outbox reaches the rest of the daemon: sends through the transfer manager. */
import { P2pdError, toP2pdError } from '../errors.js';
import type { PeerTable } from '../discovery/peer-table.js';
import { resolvePeer } from '../discovery/resolve.js';
import type { OutboxPeers, OutboxSender, SendOutcome } from '../outbox/index.js';
import type { SmallFileReader } from '../store/small-file-reader.js';
import { scanLocalPaths } from '../store/local-source.js';
import type { StateStore } from '../store/state.js';
import type { TransferManager } from '../transfer/manager.js';

export function outboxSender(
  deps: { manager: TransferManager; peers: PeerTable; state: StateStore; reader?: SmallFileReader },
  options: { protect: readonly string[] },
): OutboxSender {
  const candidates = (): Array<{ id: string; name: string; trusted: boolean }> => [
    ...deps.peers.list().map((p) => ({ id: p.id, name: p.name, trusted: deps.state.getTrusted(p.id) !== undefined })),
    ...deps.state.trusted().map((t) => ({ id: t.id, name: t.name, trusted: true })),
  ];
  return {
    async send(peer, paths, { signal }): Promise<SendOutcome> {
      let id: string | null = null;
      try {
        const source = await scanLocalPaths(paths, { signal, protect: options.protect, ...(deps.reader === undefined ? {} : { reader: deps.reader }) });
        // The outbox keeps its own retry schedule (and moves items to .failed), so no retries here.
        const started = deps.manager.send({ peer, source, retry: 'never', origin: 'outbox' });
        id = started.id;
        const onAbort = (): void => {
          try {
            deps.manager.cancel(started.id);
          } catch {
            // already ended
          }
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const view = await started.done.finally(() => signal.removeEventListener('abort', onAbort));
        if (view.state === 'done') return { ok: true, transferId: view.id };
        const first = view.files?.find((f) => !f.ok)?.error;
        const error = view.error?.code === 'TRANSFER_FAILED' && first !== undefined ? first : view.error;
        const e = P2pdError.fromJSON(error ?? { code: 'TRANSFER_FAILED', message: 'the transfer failed' });
        return { ok: false, transferId: view.id, code: e.code, message: e.message };
      } catch (err) {
        const e = toP2pdError(err);
        return { ok: false, transferId: id, code: e.code, message: e.message };
      }
    },
    isOnline(peer) {
      try {
        return deps.peers.get(resolvePeer(peer, candidates()).id) !== undefined;
      } catch {
        return false;
      }
    },
  };
}

export function outboxPeers(deps: { state: StateStore }): OutboxPeers {
  // A group gets its folder too: `@<group>/` sends to every member (outbox-groups.ts).
  return { trustedNames: () => [...deps.state.trusted().map((t) => t.name), ...deps.state.groups().map((g) => `@${g.name}`)] };
}

/** Every name a peer can be addressed by, so that a folder named any of them is sent to at once. */
export function namesOf(peer: { id: string; name: string }, state: StateStore): string[] {
  const names = new Set([peer.name, `${peer.name}#${peer.id.slice(0, 7)}`, peer.id]);
  const trusted = state.getTrusted(peer.id);
  if (trusted !== undefined) names.add(trusted.name);
  // A member coming online may let a group's items go on.
  for (const g of state.groups()) if (g.members.includes(peer.id)) names.add(`@${g.name}`);
  return [...names];
}
