/**
 * Turning what a user types (a name, name#short-id, @short-id or a full id) into one peer.
 *
 * Names are chosen by whoever announces them, ids are proven by TLS: a name must never be able to
 * stand in for an id. A query that could mean a name of one peer and an id of another, or a name
 * that only looks like another peer's, is an error that lists the candidates; a trusted peer wins
 * only where it is the one trusted candidate.
 */
import { P2pdError } from '../errors.js';
import { lookAlikeKey } from './look-alike.js';

export interface NamedPeer {
  id: string;
  name: string;
  /** A trusted peer wins over untrusted ones that claim the same name (they may be impostors). */
  trusted?: boolean;
}

export const SHORT_ID_LENGTH = 7;
/** Shortest id prefix a user may type: shorter ones match too many ids to mean anything. */
const MIN_ID_PREFIX = 4;

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

/** The id prefix a query spells (dashes and spaces dropped, upper case), or null if it cannot be one. */
function idPrefixOf(text: string): string | null {
  const compact = text.replace(/[-\s]/g, '').toUpperCase();
  return compact.length >= MIN_ID_PREFIX && /^[A-Z2-7]+$/.test(compact) ? compact : null;
}

/**
 * Finds the one peer `query` names:
 * - a full id (any case, dashes allowed);
 * - `name#prefix`: that name and an id starting with prefix;
 * - `@prefix`: an id prefix, never a name;
 * - otherwise a name (case-insensitive) or an id prefix of at least 4 characters. When both
 *   readings find different peers, or the name found is untrusted and other peers carry names
 *   that look the same, the one trusted candidate wins or the query is ambiguous.
 */
export function resolvePeer<T extends NamedPeer>(query: string, peers: readonly T[]): T {
  const q = query.trim();
  const compact = q.replace(/[-\s]/g, '').toUpperCase();
  const byId = peers.find((p) => p.id === compact);
  if (byId !== undefined) return byId;

  if (q.startsWith('@')) {
    const prefix = idPrefixOf(q.slice(1));
    return one(q, prefix === null ? [] : peers.filter((p) => p.id.startsWith(prefix)));
  }
  const hash = q.lastIndexOf('#');
  if (hash > 0) {
    const name = q.slice(0, hash).toLowerCase();
    const prefix = q
      .slice(hash + 1)
      .replace(/[-\s]/g, '')
      .toUpperCase();
    return one(
      q,
      peers.filter((p) => p.name.toLowerCase() === name && prefix.length > 0 && p.id.startsWith(prefix)),
    );
  }

  const byName = peers.filter((p) => p.name.toLowerCase() === q.toLowerCase());
  const prefix = idPrefixOf(q);
  const byPrefix = prefix === null ? [] : peers.filter((p) => p.id.startsWith(prefix));
  const candidates = [...byName, ...byPrefix];
  const trusted = distinct(candidates.filter((p) => p.trusted === true));
  if (trusted.length === 1) return trusted[0]!;
  if (distinct(candidates).length === 1 && byName.length > 0) {
    // An untrusted name is only taken when nothing else on the network looks like it.
    const key = lookAlikeKey(q);
    const lookAlikes = peers.filter((p) => p.id !== byName[0]!.id && lookAlikeKey(p.name) === key);
    return one(q, [...byName, ...lookAlikes]);
  }
  return one(q, candidates);
}

function distinct<T extends NamedPeer>(peers: readonly T[]): T[] {
  const seen = new Set<string>();
  return peers.filter((p) => !seen.has(p.id) && seen.add(p.id) !== undefined);
}

function one<T extends NamedPeer>(query: string, matches: T[]): T {
  // Several records for the same id (seen and trusted) are one peer.
  const unique = distinct(matches);
  if (unique.length === 1) return unique[0]!;
  if (unique.length === 0) {
    throw new P2pdError('PEER_NOT_FOUND', `no peer called "${query}" is known; \`p2pd peers\` lists the peers this daemon sees`, {
      details: { query },
    });
  }
  const choices = unique.map((m) => `${m.name}#${m.id.slice(0, SHORT_ID_LENGTH)}`);
  throw new P2pdError(
    'PEER_AMBIGUOUS',
    `"${query}" could mean any of ${choices.join(', ')}: type one of these (name#short-id), @short-id for an id, or the full id`,
    { details: { query, choices } },
  );
}

/**
 * Why an untrusted peer's name is suspicious: it is, or looks like, a trusted peer's name, or it
 * spells the start of a trusted peer's id. Returns the trusted name it imitates, or null.
 */
export function imitatedName(name: string, trusted: readonly NamedPeer[]): string | null {
  const key = lookAlikeKey(name);
  const prefix = idPrefixOf(name);
  const hit = trusted.find((t) => lookAlikeKey(t.name) === key || (prefix !== null && t.id.startsWith(prefix)));
  return hit?.name ?? null;
}
