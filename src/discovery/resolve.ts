/** Turning what a user types (a name, name#short-id, a short id or a full id) into one peer. */
import { P2pdError } from '../errors.js';

export interface NamedPeer {
  id: string;
  name: string;
  /** A trusted peer wins over untrusted ones that claim the same name (they may be impostors). */
  trusted?: boolean;
}

export const SHORT_ID_LENGTH = 7;

/** Names shown to users: the plain name when it is unique, else name#short-id for each holder. */
export function displayNames<T extends NamedPeer>(peers: readonly T[]): Map<string, string> {
  const count = new Map<string, number>();
  for (const p of peers) count.set(p.name.toLowerCase(), (count.get(p.name.toLowerCase()) ?? 0) + 1);
  const out = new Map<string, string>();
  for (const p of peers) {
    const unique = count.get(p.name.toLowerCase()) === 1;
    out.set(p.id, unique ? p.name : `${p.name}#${p.id.slice(0, SHORT_ID_LENGTH)}`);
  }
  return out;
}

/**
 * Finds the one peer `query` names. A full id (with or without dashes) wins; then name#prefix;
 * then an exact name (case-insensitive); then an id prefix of at least 4 characters.
 */
export function resolvePeer<T extends NamedPeer>(query: string, peers: readonly T[]): T {
  const q = query.trim();
  const compact = q.replace(/[-\s]/g, '').toUpperCase();
  const byId = peers.find((p) => p.id === compact);
  if (byId !== undefined) return byId;

  const hash = q.lastIndexOf('#');
  if (hash > 0) {
    const name = q.slice(0, hash).toLowerCase();
    const prefix = q.slice(hash + 1).replace(/[-\s]/g, '').toUpperCase();
    return one(q, peers.filter((p) => p.name.toLowerCase() === name && prefix.length > 0 && p.id.startsWith(prefix)));
  }
  const byName = peers.filter((p) => p.name.toLowerCase() === q.toLowerCase());
  const trustedByName = byName.filter((p) => p.trusted === true);
  if (new Set(trustedByName.map((p) => p.id)).size === 1) return trustedByName[0]!;
  if (byName.length > 0) return one(q, byName);
  if (compact.length >= 4 && /^[A-Z2-7]+$/.test(compact)) return one(q, peers.filter((p) => p.id.startsWith(compact)));
  return one(q, []);
}

function one<T extends NamedPeer>(query: string, matches: T[]): T {
  // Several records for the same id (seen and trusted) are one peer.
  const ids = new Set(matches.map((m) => m.id));
  if (ids.size === 1) return matches[0]!;
  if (ids.size === 0) {
    throw new P2pdError('PEER_NOT_FOUND', `no peer called "${query}" is known; \`p2pd peers\` lists the peers this daemon sees`, {
      details: { query },
    });
  }
  const choices = [...ids].map((id) => {
    const m = matches.find((x) => x.id === id)!;
    return `${m.name}#${id.slice(0, SHORT_ID_LENGTH)}`;
  });
  throw new P2pdError('PEER_AMBIGUOUS', `several peers are called "${query}": use one of ${choices.join(', ')}`, {
    details: { query, choices },
  });
}
