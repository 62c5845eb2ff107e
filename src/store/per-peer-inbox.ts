/**
 * `inboxPerPeer`: each sender's files land in <inbox>/<peer name>/, one Inbox per subfolder, made
 * on first use. The folder name is the sender's display name run through the same checks as any
 * received name, so a hostile name cannot climb out of the inbox.
 */
import { lstat, mkdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { P2pdError } from '../errors.js';
import type { OfferEntry } from '../protocol/messages.js';
import type { AcceptChoices, InboxStore, OfferReview, PreparedTransfer, SenderInfo } from '../transfer/ports.js';
import { Inbox, warnIfReserveTooLarge, type InboxLogger } from './inbox.js';
import { checkPrivateDirectory } from './inbox-guard.js';
import { checkFolderInInbox, reviewOffer } from './offer-plan.js';
import { checkRelativePath } from './safe-name.js';

export class PerPeerInbox implements InboxStore {
  readonly #logger: InboxLogger | undefined;
  readonly #dir: string;
  readonly #maxFileSize: number | undefined;
  readonly #inboxes = new Map<string, Promise<Inbox>>();
  readonly #minFreeSpace: number | undefined;
  /** The inbox's real path, checked at start: per-peer folders are made right inside it. */
  #root: string | undefined;

  constructor(deps: { logger?: InboxLogger }, options: { dir: string; maxFileSize?: number; minFreeSpace?: number }) {
    this.#logger = deps.logger;
    this.#dir = options.dir;
    this.#maxFileSize = options.maxFileSize;
    this.#minFreeSpace = options.minFreeSpace;
  }

  /** The same review as each sender's Inbox would make (a chosen folder lies inside the sender's folder). */
  review(entries: readonly OfferEntry[]): OfferReview {
    return reviewOffer(entries, { maxFileSize: this.#maxFileSize ?? 0, checkTo: checkFolderInInbox });
  }

  async prepare(
    offer: { transferId: string; entries: readonly OfferEntry[]; sender: SenderInfo; choices?: AcceptChoices },
    options: { signal: AbortSignal },
  ): Promise<PreparedTransfer> {
    const { inbox, folder } = await this.#inboxFor(offer.sender);
    const prepared = await inbox.prepare(offer, options);
    // Where a file landed is reported relative to the whole inbox, folder included.
    return {
      ...(prepared.resumeState === undefined ? {} : { resumeState: (key: string) => prepared.resumeState!(key) }),
      ...(prepared.saveSmallFile === undefined
        ? {}
        : { saveSmallFile: async (index: number, data: Buffer, o: { signal: AbortSignal }) => `${folder}/${await prepared.saveSmallFile!(index, data, o)}` }),
      close: () => prepared.close(),
      async openFile(index, opts) {
        const file = await prepared.openFile(index, opts);
        return {
          stream: file.stream,
          commit: async (o) => `${folder}/${await file.commit(o)}`,
          discard: () => file.discard(),
          ...(file.keep === undefined ? {} : { keep: () => file.keep!() }),
          ...(file.journal === undefined ? {} : { journal: (d: Buffer) => file.journal!(d) }),
        };
      },
    };
  }

  async cleanupPartials(options: { olderThanMs: number }): Promise<number> {
    let n = 0;
    for (const inbox of this.#inboxes.values()) n += await (await inbox).cleanupPartials(options);
    return n;
  }

  /**
   * Creates the inbox directory and checks that no other local user can write it (else a link
   * planted at a sender's folder name would take that sender's files elsewhere); each sender's
   * folder is started (and cleaned) on its first transfer, and refused if it is a symlink.
   */
  async start(_options: { signal?: AbortSignal } = {}): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const root = await realpath(this.#dir);
    checkPrivateDirectory(root, await lstat(root), 'the inbox');
    this.#root = root;
    if (this.#logger !== undefined) await warnIfReserveTooLarge(this.#logger, root, this.#minFreeSpace ?? 0);
  }

  async stop(): Promise<void> {
    for (const inbox of this.#inboxes.values()) await (await inbox.catch(() => undefined))?.stop();
  }

  async #inboxFor(sender: SenderInfo): Promise<{ inbox: Inbox; folder: string }> {
    let folder: string;
    try {
      [folder] = checkRelativePath(sender.name.replace(/[/\\]/g, '_'));
    } catch {
      folder = sender.id.slice(0, 7);
    }
    if (folder === undefined) throw new P2pdError('INTERNAL', 'no folder name for the sender');
    let inbox = this.#inboxes.get(folder);
    if (inbox === undefined) {
      if (this.#root === undefined) throw new P2pdError('INTERNAL', 'the inbox is not started');
      const made = new Inbox(this.#logger === undefined ? {} : { logger: this.#logger }, {
        dir: join(this.#root, folder),
        noFollow: true,
        ...(this.#maxFileSize === undefined ? {} : { maxFileSize: this.#maxFileSize }),
      });
      inbox = made.start().then(() => made);
      inbox.catch(() => this.#inboxes.delete(folder));
      this.#inboxes.set(folder, inbox);
    }
    return { inbox: await inbox, folder };
  }
}
