/**
 * Extra destinations (config key `destinations`): folders outside the inbox that a person may
 * choose when accepting an offer (`accept --to /srv/media`). Each is an Inbox of its own, with its
 * own `.p2pd-partial/`, so that a file is still written aside, verified and moved into place with
 * a link on the same file system; it is made and started on its first use. Any other `to` is a
 * folder inside the inbox and goes to the inbox itself.
 */
import { join, resolve } from 'node:path';
import { P2pdError } from '../errors.js';
import type { OfferEntry } from '../protocol/messages.js';
import type { AcceptChoices, InboxStore, OfferReview, PreparedTransfer, SenderInfo } from '../transfer/ports.js';
import { Inbox, type InboxLogger } from './inbox.js';
import { checkFolderInInbox, reviewOffer } from './offer-plan.js';
import { displayName } from './safe-name.js';

/** What the router needs of the inbox it stands in front of (Inbox or PerPeerInbox). */
export interface RoutedInbox extends InboxStore {
  start(options?: { signal?: AbortSignal }): Promise<void>;
  stop(): Promise<void>;
  cleanupPartials(options: { olderThanMs: number }): Promise<number>;
}

export class DestinationsInbox implements InboxStore {
  readonly #logger: InboxLogger | undefined;
  readonly #inbox: RoutedInbox;
  readonly #maxFileSize: number;
  /** Configured destinations, resolved (no trailing "/"). */
  readonly #destinations: ReadonlySet<string>;
  readonly #started = new Map<string, Promise<Inbox>>();

  constructor(deps: { logger?: InboxLogger; inbox: RoutedInbox }, options: { destinations: readonly string[]; maxFileSize?: number }) {
    this.#logger = deps.logger;
    this.#inbox = deps.inbox;
    this.#maxFileSize = options.maxFileSize ?? 0;
    this.#destinations = new Set(options.destinations.map((d) => resolve(d)));
  }

  review(entries: readonly OfferEntry[]): OfferReview {
    return reviewOffer(entries, { maxFileSize: this.#maxFileSize, checkTo: (to) => void this.#destination(to) });
  }

  async prepare(
    offer: { transferId: string; entries: readonly OfferEntry[]; sender: SenderInfo; choices?: AcceptChoices },
    options: { signal: AbortSignal },
  ): Promise<PreparedTransfer> {
    const to = offer.choices?.to;
    const destination = to === undefined ? undefined : this.#destination(to);
    if (destination === undefined) return this.#inbox.prepare(offer, options);
    const { to: _to, ...rest } = offer.choices!;
    const inbox = await this.#inboxAt(destination);
    const prepared = await inbox.prepare({ ...offer, choices: rest }, options);
    // Where a file landed is reported as an absolute path: it is not under the inbox.
    return {
      ...(prepared.resumeState === undefined ? {} : { resumeState: (key: string) => prepared.resumeState!(key) }),
      ...(prepared.saveSmallFile === undefined
        ? {}
        : {
            saveSmallFile: async (index: number, data: Buffer, o: { signal: AbortSignal }) =>
              join(destination, ...(await prepared.saveSmallFile!(index, data, o)).split('/')),
          }),
      close: () => prepared.close(),
      async openFile(index, opts) {
        const file = await prepared.openFile(index, opts);
        return {
          stream: file.stream,
          commit: async (o) => join(destination, ...(await file.commit(o)).split('/')),
          discard: () => file.discard(),
          ...(file.keep === undefined ? {} : { keep: () => file.keep!() }),
          ...(file.journal === undefined ? {} : { journal: (d: Buffer) => file.journal!(d) }),
        };
      },
    };
  }

  start(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#inbox.start(options);
  }

  async stop(): Promise<void> {
    for (const inbox of this.#started.values()) await (await inbox.catch(() => undefined))?.stop();
    await this.#inbox.stop();
  }

  async cleanupPartials(options: { olderThanMs: number }): Promise<number> {
    let n = await this.#inbox.cleanupPartials(options);
    for (const inbox of this.#started.values()) n += await (await inbox).cleanupPartials(options);
    return n;
  }

  /** A configured destination (absolute), or undefined for a folder inside the inbox (checked). */
  #destination(to: string): string | undefined {
    if (typeof to === 'string' && to.startsWith('/')) {
      const wanted = resolve(to);
      if (this.#destinations.has(wanted)) return wanted;
      throw new P2pdError('NAME_INVALID', `${displayName(to, 80)} is not one of the configured destinations (config key "destinations")`, {
        details: { reason: 'not-a-destination' },
      });
    }
    checkFolderInInbox(to);
    return undefined;
  }

  #inboxAt(dir: string): Promise<Inbox> {
    let inbox = this.#started.get(dir);
    if (inbox === undefined) {
      const made = new Inbox(this.#logger === undefined ? {} : { logger: this.#logger }, { dir, maxFileSize: this.#maxFileSize });
      inbox = made.start().then(() => made);
      inbox.catch(() => this.#started.delete(dir));
      this.#started.set(dir, inbox);
    }
    return inbox;
  }
}
