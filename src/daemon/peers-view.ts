/** The peers `p2pd peers` shows: those seen over mDNS and those trusted, merged by id. */
import type { PeerView } from '../control/api.js';
import type { PeerTable } from '../discovery/peer-table.js';
import { displayNames, imitatedName } from '../discovery/resolve.js';
import { compareNames } from '../display-text.js';
import type { StateStore } from '../store/state.js';
import type { LocalSendDevice } from '../localsend/index.js';

export function peerViews(table: PeerTable, state: StateStore): PeerView[] {
  const seen = new Map(table.list().map((p) => [p.id, p]));
  const trusted = new Map(state.trusted().map((t) => [t.id, t]));
  const trustedList = [...trusted.values()];
  const ids = new Set([...seen.keys(), ...trusted.keys()]);
  const named = [...ids].map((id) => {
    const s = seen.get(id);
    const t = trusted.get(id);
    return { id, name: s?.name ?? t?.name ?? id.slice(0, 7), s, t };
  });
  const display = displayNames(named);
  return named
    .map(({ id, name, s, t }) => ({
      id,
      shortId: id.slice(0, 7),
      name,
      displayName: display.get(id) ?? name,
      addresses: (s?.addresses ?? []).map((a) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`)),
      trusted: t !== undefined,
      trustedName: t?.name ?? null,
      online: s !== undefined,
      lastSeen: s === undefined ? null : new Date(s.lastSeen).toISOString(),
      // A stranger whose name is, or looks like, a trusted peer's name or short id.
      impersonates: t === undefined ? imitatedName(name, trustedList) : null,
      protocol: 'p2pd' as const,
      verified: true,
    }))
    .sort((a, b) => Number(b.online) - Number(a.online) || compareNames(a.displayName, b.displayName));
}

/**
 * LocalSend devices as peers. A device counts as trusted only when its certificate proved the
 * fingerprint that was trusted; an unverified one (plain HTTP) never does, whatever it claims.
 */
export function localsendPeerViews(devices: readonly LocalSendDevice[], state: StateStore): PeerView[] {
  const trustedList = state.trusted();
  return devices.map((d) => {
    const t = d.verified ? state.getTrusted(d.fingerprint) : undefined;
    return {
      id: d.fingerprint,
      shortId: d.fingerprint.slice(0, 7),
      name: d.alias,
      displayName: d.alias,
      addresses: [d.address.includes(':') ? `[${d.address}]:${d.port}` : `${d.address}:${d.port}`],
      trusted: t !== undefined,
      trustedName: t?.name ?? null,
      online: true,
      lastSeen: new Date(d.lastSeen).toISOString(),
      impersonates: t === undefined ? imitatedName(d.alias, trustedList) : null,
      protocol: 'localsend' as const,
      verified: d.verified,
    };
  });
}
