/** Who may send to this daemon, from the `accept` setting and the trusted peers. */
import { P2pdError } from '../errors.js';
import type { AcceptPolicy } from '../config/types.js';
import type { PeerTable } from '../discovery/peer-table.js';
import { cleanPeerName } from '../discovery/mdns.js';
import type { StateStore } from '../store/state.js';
import type { IncomingPolicy } from '../transfer/manager.js';

export function incomingPolicy(deps: { state: StateStore; peers: PeerTable }, options: { accept: AcceptPolicy; localName: string }): IncomingPolicy {
  const displayName = (peer: { id: string; helloName: string }): string =>
    deps.state.getTrusted(peer.id)?.name ?? deps.peers.get(peer.id)?.name ?? (cleanPeerName(peer.helloName) || peer.id.slice(0, 7));
  return {
    displayName,
    authorize(peer) {
      if (options.accept === 'all' || deps.state.getTrusted(peer.id) !== undefined) return;
      const them = displayName(peer);
      throw new P2pdError(
        'PEER_NOT_TRUSTED',
        `${options.localName} does not accept files from ${them} yet: on ${options.localName} run \`p2pd trust ${them}\``,
        { details: { receiver: options.localName, sender: them } },
      );
    },
  };
}
