/**
 * Logins of the web dashboard. The CLI fetches a one-time token over the control socket (whose
 * 0600 permission is the real access boundary); the page trades it, once, for a session token
 * that lives only in the tab's sessionStorage and goes out as `Authorization: Bearer`. Nothing
 * here is a cookie: cookies ignore ports, so any other local server could collect them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { P2pdError } from '../errors.js';

export interface UiSessionsOptions {
  /** How long a one-time token may wait to be traded. */
  loginTtlMs?: number;
  /** How long a session lives after its last use. */
  sessionIdleMs?: number;
  /** Most sessions kept; the least recently used goes first. */
  maxSessions?: number;
  now?: () => number;
}

/**
 * Tokens are kept and looked up as digests: the timing of a lookup says nothing about a stored
 * token's bytes, and a memory dump holds no usable token.
 */
function digest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const unauthorized = (why: string): P2pdError => new P2pdError('CONTROL_UNAUTHORIZED', why);

export class UiSessions {
  readonly #loginTtlMs: number;
  readonly #sessionIdleMs: number;
  readonly #maxSessions: number;
  readonly #now: () => number;
  /** digest (hex) → expiry of unused one-time tokens. */
  readonly #logins = new Map<string, number>();
  /** digest (hex) → last use; Map order is least recently used first. */
  readonly #sessions = new Map<string, number>();

  constructor(options: UiSessionsOptions = {}) {
    this.#loginTtlMs = options.loginTtlMs ?? 60_000;
    this.#sessionIdleMs = options.sessionIdleMs ?? 12 * 3_600_000;
    this.#maxSessions = options.maxSessions ?? 32;
    this.#now = options.now ?? Date.now;
  }

  /** A new one-time token and when it stops working. */
  issueLogin(): { token: string; expiresAt: number } {
    this.#sweep();
    const token = randomBytes(24).toString('base64url');
    const expiresAt = this.#now() + this.#loginTtlMs;
    this.#logins.set(digest(token), expiresAt);
    return { token, expiresAt };
  }

  /** Trades a one-time token for a session; the token is spent whether or not it was valid. */
  login(token: string): { session: string; expiresAt: number } {
    this.#sweep();
    const key = digest(token);
    const expiry = this.#logins.get(key);
    this.#logins.delete(key);
    if (expiry === undefined || expiry < this.#now()) {
      throw unauthorized('this login link was used already or has expired: run `p2pd ui` again for a new one');
    }
    const session = randomBytes(32).toString('base64url');
    this.#sessions.set(digest(session), this.#now());
    while (this.#sessions.size > this.#maxSessions) this.#sessions.delete(this.#sessions.keys().next().value!);
    return { session, expiresAt: this.#now() + this.#sessionIdleMs };
  }

  /** Throws CONTROL_UNAUTHORIZED unless `credentials` is a live session token. */
  check(credentials: unknown): void {
    if (typeof credentials !== 'string' || credentials === '') throw unauthorized('log in first: open the address `p2pd ui` prints');
    const key = digest(credentials);
    const last = this.#sessions.get(key);
    if (last === undefined || last + this.#sessionIdleMs < this.#now()) {
      if (last !== undefined) this.#sessions.delete(key);
      throw unauthorized('this dashboard session is not valid (the daemon restarted, or it expired): run `p2pd ui` again');
    }
    this.#sessions.delete(key);
    this.#sessions.set(key, this.#now());
  }

  #sweep(): void {
    const now = this.#now();
    for (const [k, exp] of this.#logins) if (exp < now) this.#logins.delete(k);
  }
}
