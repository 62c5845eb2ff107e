/**
 * Turns what the user typed into a verified TLS connection: the peer table and the trusted list
 * give the id and addresses, and the dial insists on that id's key. mDNS only says where to look;
 * the handshake proves who answered.
 */
import { P2pdError } from '../errors.js';
import type { PeerTable } from '../discovery/peer-table.js';
import { resolvePeer } from '../discovery/resolve.js';
import type { StateStore } from '../store/state.js';
import { dialTls, type Identity } from '../transport/index.js';
import type { Connection, Connector } from '../transfer/drivers.js';

/** LocalSend ids are SHA-256 fingerprints (64 hex digits); p2pd ids are 52 base32 characters. */
const LOCALSEND_ID = /^[0-9A-F]{64}$/;
const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

export function peerConnector(
  deps: { identity: Identity; peers: PeerTable; state: StateStore; localsend?: (query: string) => { id: string; name: string } | null },
  options: { connectTimeoutMs: number },
): Connector {
  const candidates = (): Array<{ id: string; name: string; trusted: boolean }> => [
    ...deps.peers.list().map((p) => ({ id: p.id, name: p.name, trusted: deps.state.getTrusted(p.id) !== undefined })),
    ...deps.state.trusted().map((t) => ({ id: t.id, name: t.name, trusted: true })),
  ];

  const direct = (query: string): { host: string; port: number } | null => {
    const m = HOST_PORT.exec(query);
    if (m === null) return null;
    const port = Number(m[3]);
    if (port < 1 || port > 65535) return null;
    return { host: m[1] ?? m[2]!, port };
  };

  return {
    resolve(query) {
      try {
        const p = resolvePeer(query, candidates());
        // A trusted LocalSend device is in the trusted list under its certificate fingerprint.
        const protocol = LOCALSEND_ID.test(p.id) ? 'localsend' : 'p2pd';
        return { protocol, id: p.id, name: deps.state.getTrusted(p.id)?.name ?? p.name };
      } catch (err) {
        const device = deps.localsend?.(query) ?? null;
        if (device !== null) return { protocol: 'localsend', ...device };
        if (direct(query) !== null) return { protocol: 'p2pd', id: null, name: query };
        throw err;
      }
    },

    async connect(query, { signal }): Promise<Connection> {
      let peer: { id: string; name: string } | undefined;
      try {
        peer = resolvePeer(query, candidates());
      } catch (err) {
        const hp = direct(query);
        if (hp === null) throw err;
        // An address typed by the user: whoever answers is who we talk to, and the result names its id.
        const r = await dialTls({ identity: deps.identity }, { addresses: [hp], signal, timeoutMs: options.connectTimeoutMs });
        if (r.peerId === deps.identity.id) {
          r.socket.destroy();
          throw new P2pdError('USAGE', `${query} is this daemon itself; name another machine`);
        }
        const trusted = deps.state.getTrusted(r.peerId);
        return { socket: r.socket, peer: { id: r.peerId, name: trusted?.name ?? query } };
      }
      const seen = deps.peers.get(peer.id);
      const name = deps.state.getTrusted(peer.id)?.name ?? peer.name;
      if (seen === undefined || seen.addresses.length === 0) {
        throw new P2pdError('PEER_UNREACHABLE', `${name} is not online: it has not been seen over mDNS lately (is its daemon running, and on this network?)`, {
          details: { peer: peer.id },
        });
      }
      // An impostor announcing the peer's id at its own address must not block the real peer: an
      // address that presents the wrong key is dropped and the others are tried. The mismatch is
      // still reported if no address proves to be the peer.
      let addresses = [...seen.addresses];
      let mismatch: P2pdError | undefined;
      while (addresses.length > 0) {
        try {
          const r = await dialTls({ identity: deps.identity }, { addresses, expectedId: peer.id, signal, timeoutMs: options.connectTimeoutMs });
          return { socket: r.socket, peer: { id: r.peerId, name } };
        } catch (err) {
          if (!(err instanceof P2pdError) || err.code !== 'PEER_IDENTITY_MISMATCH') throw mismatch ?? err;
          mismatch = err;
          const bad = err.details as { host?: string; port?: number } | undefined;
          addresses = addresses.filter((a) => !(a.host === bad?.host && a.port === bad?.port));
        }
      }
      throw mismatch!;
    },
  };
}
