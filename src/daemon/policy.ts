/**
 * Who may send to this daemon: the `accept` setting, per-peer overrides and the trusted peers.
 * Names are spoofable, so a name key in acceptOverrides only ever matches a *trusted* peer of that
 * name; an untrusted peer can only be matched by its id.
 */
import { P2pdError } from '../errors.js';
import type { AcceptPolicy, PeerAcceptPolicy } from '../config/types.js';
import type { PeerTable } from '../discovery/peer-table.js';
import { cleanPeerName } from '../discovery/mdns.js';
import type { StateStore } from '../store/state.js';
import { parsePeerId } from '../transport/index.js';
import type { IncomingPolicy } from '../transfer/admission.js';
import type { PairingPolicy } from '../transfer/pairings.js';

export interface PolicySettings {
  accept: AcceptPolicy;
  acceptOverrides: Readonly<Record<string, PeerAcceptPolicy>>;
}

export function incomingPolicy(
  deps: { state: StateStore; peers: PeerTable },
  options: { settings: () => PolicySettings; localName: string },
): IncomingPolicy & PairingPolicy {
  const displayName = (peer: { id: string; helloName: string }): string =>
    deps.state.getTrusted(peer.id)?.name ?? deps.peers.get(peer.id)?.name ?? (cleanPeerName(peer.helloName) || peer.id.slice(0, 7));

  const policyFor = (id: string, verified = true): PeerAcceptPolicy | 'deny-untrusted' => {
    const { accept, acceptOverrides } = options.settings();
    // An id its protocol did not prove says nothing: no trust, no per-peer override, and a person
    // decides even under "all" (a LocalSend sender without a client certificate can be anyone).
    if (!verified) return accept === 'trusted' ? 'deny-untrusted' : 'ask';
    const trusted = deps.state.getTrusted(id);
    // Keys may be ids in any case, with or without dashes, or names in any case.
    const overrides = new Map(Object.entries(acceptOverrides).map(([k, v]) => [parsePeerId(k) ?? k.toLowerCase(), v] as const));
    const override = overrides.get(id) ?? (trusted !== undefined ? overrides.get(trusted.name.toLowerCase()) : undefined);
    if (override !== undefined) return override;
    if (trusted !== undefined || accept === 'all') return 'auto';
    return accept === 'ask' ? 'ask' : 'deny-untrusted';
  };

  return {
    displayName,
    trusted(peer) {
      // An id its protocol did not prove is never a trusted peer's.
      return peer.verified !== false && deps.state.getTrusted(peer.id) !== undefined;
    },
    mayPair(peer) {
      // Pairing is how an unknown peer becomes trusted, so only an explicit "deny" stops it.
      if (policyFor(peer.id) === 'deny') {
        throw new P2pdError('PEER_REFUSED', `${options.localName} does not pair with ${displayName(peer)}`);
      }
    },
    decide(peer) {
      const policy = policyFor(peer.id, peer.verified);
      const them = displayName(peer);
      const me = options.localName;
      if (policy === 'deny-untrusted') {
        throw new P2pdError('PEER_NOT_TRUSTED', `${me} does not accept files from ${them} yet: on ${me} run \`p2pd trust ${them}\``, {
          details: { receiver: me, sender: them },
        });
      }
      if (policy === 'deny') {
        throw new P2pdError('PEER_REFUSED', `${me} does not accept files from ${them}`, { details: { receiver: me, sender: them } });
      }
      return policy;
    },
  };
}
