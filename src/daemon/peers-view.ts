/** The peers `p2pd peers` shows: those seen over mDNS and those trusted, merged by id. */
import type { PeerView } from '../control/api.js';
import type { PeerTable } from '../discovery/peer-table.js';
import { displayNames } from '../discovery/resolve.js';
import type { StateStore } from '../store/state.js';

export function peerViews(table: PeerTable, state: StateStore): PeerView[] {
  // Maps, not finds: the table may hold thousands of peers, and `watch` recomputes this list.
  const seen = new Map(table.list().map((p) => [p.id, p]));
  const trusted = new Map(state.trusted().map((t) => [t.id, t]));
  const trustedByName = new Map<string, string>();
  for (const t of trusted.values()) if (!trustedByName.has(t.name.toLowerCase())) trustedByName.set(t.name.toLowerCase(), t.name);
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
      impersonates: t === undefined ? (trustedByName.get(name.toLowerCase()) ?? null) : null,
    }))
    .sort((a, b) => Number(b.online) - Number(a.online) || a.displayName.localeCompare(b.displayName));
}
