/**
 * Sending one outbox item and what follows: the item must still be what settled, then the
 * transfer, then a verified delivery moves it to .sent/ (or deletes it), a transient failure
 * leaves it retrying, and a permanent one, or giveUpHours of failing, moves it to .failed/ with a
 * note.
 */
import { isErrorCode, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import { displayName } from '../store/safe-name.js';
import { classifyFailure, failureNote, type GiveUpReason } from './classify.js';
import { observeSignature, type ItemTable, type OutboxItem } from './item-table.js';
import { FAILED_DIR, SENT_DIR, deleteItem, moveToFailed, moveToSent } from './moves.js';
import type { OutboxSender, SendOutcome } from './ports.js';
import { probeItem, sameSignature, type ItemSignature } from './signature.js';

export const HOUR_MS = 3_600_000;

export interface DeliveryDeps {
  logger: Logger;
  sender: OutboxSender;
  table: ItemTable;
  now: () => number;
  /** Aborted when the outbox stops: a send interrupted by it leaves the item as it was. */
  signal: AbortSignal;
  /** An item went back to settling: make sure the stability timer runs. */
  settleAgain: () => void;
}

export interface DeliveryOptions {
  dir: string;
  afterSend: 'move' | 'delete';
  /** 0 = never give up on transient failures. */
  giveUpMs: number;
}

export class Delivery {
  readonly #deps: DeliveryDeps;
  readonly #options: DeliveryOptions;

  constructor(deps: DeliveryDeps, options: DeliveryOptions) {
    this.#deps = deps;
    this.#options = options;
  }

  async send(item: OutboxItem): Promise<void> {
    const signal = this.#deps.signal;
    // The item must still be what settled: a change since means settling again.
    let before;
    try {
      before = await probeItem(item.abs, { signal });
    } catch (err) {
      if (signal.aborted) return this.#unchanged(item);
      const e = toP2pdError(err, 'SOURCE_NOT_FOUND');
      return this.#transient(item, { ok: false, transferId: null, code: e.code, message: e.message });
    }
    if (before.type !== 'item') {
      this.#deps.logger.info({ item: displayName(item.key) }, 'removed from the outbox before it was sent');
      this.#deps.table.forget(item);
      return;
    }
    if (!sameSignature(before.signature, item.signature)) {
      if (observeSignature(item, before.signature, this.#deps.now()))
        this.#deps.logger.info({ item: displayName(item.key) }, 'outbox item changed; waiting for it to settle again');
      this.#deps.settleAgain();
      return;
    }

    this.#deps.logger.info(
      { item: displayName(item.key), peer: displayName(item.peer), kind: item.signature.kind, bytes: item.signature.bytes, attempt: item.attempts + 1 },
      'sending outbox item',
    );
    let outcome: SendOutcome;
    try {
      outcome = await this.#deps.sender.send(item.peer, [item.abs], { signal });
    } catch (err) {
      // The sender promises never to reject; be safe anyway.
      const e = toP2pdError(err);
      outcome = { ok: false, transferId: null, code: e.code, message: e.message };
    }
    if (outcome.transferId !== null) item.transferId = outcome.transferId;

    if (outcome.ok) {
      item.attempts++;
      await this.#delivered(item, before.signature);
      return;
    }
    // Interrupted by stop(): nothing changes, the item stays for the next start.
    if (signal.aborted) return this.#unchanged(item);
    item.attempts++;
    const code = isErrorCode(outcome.code) ? outcome.code : 'INTERNAL';
    item.lastError = { code, message: outcome.message };
    switch (classifyFailure(code)) {
      case 'changed':
        this.#deps.logger.info({ item: displayName(item.key), code }, 'outbox item changed while it was sent; it goes again once settled');
        item.state = 'settling';
        item.changedAt = this.#deps.now();
        this.#deps.settleAgain();
        return;
      case 'permanent':
        await this.giveUp(item, { kind: 'permanent' });
        return;
      case 'transient':
        this.#transient(item, outcome);
        if (this.giveUpDue(item)) await this.giveUp(item, { kind: 'gave-up', hours: this.#options.giveUpMs / HOUR_MS });
        return;
    }
  }

  #unchanged(item: OutboxItem): void {
    if (item.state === 'sending') item.state = 'queued';
  }

  #transient(item: OutboxItem, outcome: Extract<SendOutcome, { ok: false }>): void {
    item.state = 'retrying';
    item.lastError = { code: outcome.code, message: outcome.message };
    item.pendingSince ??= this.#deps.now();
    const fields = {
      item: displayName(item.key),
      peer: displayName(item.peer),
      code: outcome.code,
      reason: displayName(outcome.message),
      attempts: item.attempts,
      transferId: outcome.transferId,
    };
    if (outcome.code === 'PEER_IDENTITY_MISMATCH') {
      this.#deps.logger.warn(fields, 'outbox send: the peer presented another key than expected (a possible impostor); will retry');
    } else {
      this.#deps.logger.warn(fields, 'outbox send failed; will retry');
    }
  }

  /** After a verified delivery: move or delete the item, unless it changed during the send. */
  async #delivered(item: OutboxItem, sent: ItemSignature): Promise<void> {
    let after;
    try {
      after = await probeItem(item.abs);
    } catch (err) {
      this.#deps.logger.error(
        { err, item: displayName(item.key) },
        'delivered, but the outbox item cannot be read any more; it is not sent again while unchanged',
      );
      this.#park(item, sent);
      return;
    }
    if (after.type === 'gone') {
      this.#deps.logger.info({ item: displayName(item.key), transferId: item.transferId }, 'delivered (the item has since been removed from the outbox)');
      this.#deps.table.forget(item);
      return;
    }
    if (after.type !== 'item' || !sameSignature(after.signature, sent)) {
      this.#deps.logger.warn(
        { item: displayName(item.key), transferId: item.transferId },
        'delivered, but the item changed during the send: it stays and is sent again once settled',
      );
      if (after.type === 'item') item.signature = after.signature;
      item.changedAt = this.#deps.now();
      item.state = 'settling';
      this.#deps.settleAgain();
      return;
    }
    try {
      if (this.#options.afterSend === 'delete') {
        await deleteItem(this.#options.dir, item.peer, item.name);
        this.#deps.logger.info({ item: displayName(item.key), transferId: item.transferId }, 'delivered; deleted from the outbox');
      } else {
        const as = await moveToSent(this.#options.dir, item.peer, item.name, item.signature.kind);
        this.#deps.logger.info(
          { item: displayName(item.key), transferId: item.transferId, sentAs: displayName(`${SENT_DIR}/${item.peer}/${as}`) },
          'delivered; moved to .sent',
        );
      }
      this.#deps.table.forget(item);
    } catch (err) {
      this.#deps.logger.error(
        { err, item: displayName(item.key) },
        `delivered, but cannot ${this.#options.afterSend} the item; it is not sent again while unchanged`,
      );
      this.#park(item, sent);
    }
  }

  #park(item: OutboxItem, sent: ItemSignature): void {
    this.#deps.table.park(item, sent);
  }

  giveUpDue(item: OutboxItem): boolean {
    return this.#options.giveUpMs > 0 && item.pendingSince !== null && this.#deps.now() - item.pendingSince >= this.#options.giveUpMs;
  }

  /** Moves the item to .failed/<peer>/ with a note; if that fails it stays, retrying. */
  async giveUp(item: OutboxItem, reason: GiveUpReason): Promise<void> {
    const error = item.lastError ?? { code: 'PEER_UNREACHABLE', message: 'the peer was not seen online in that time' };
    const note = failureNote({
      when: new Date(this.#deps.now()),
      peer: item.peer,
      name: item.name,
      kind: item.signature.kind,
      bytes: item.signature.bytes,
      attempts: item.attempts,
      code: error.code,
      message: error.message,
      transferId: item.transferId,
      reason,
    });
    try {
      const as = await moveToFailed(this.#options.dir, item.peer, item.name, item.signature.kind, note, (err) =>
        this.#deps.logger.error({ err, item: displayName(item.key) }, 'cannot write the note next to a failed outbox item'),
      );
      this.#deps.logger.warn(
        {
          item: displayName(item.key),
          peer: displayName(item.peer),
          code: error.code,
          reason: displayName(error.message),
          attempts: item.attempts,
          movedTo: displayName(`${FAILED_DIR}/${item.peer}/${as}`),
        },
        reason.kind === 'permanent' ? 'outbox item cannot be delivered; moved to .failed' : 'gave up on an outbox item; moved to .failed',
      );
      this.#deps.table.forget(item);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#deps.table.forget(item);
        return;
      }
      this.#deps.logger.error({ err, item: displayName(item.key) }, 'cannot move an outbox item to .failed; it stays and is retried');
      item.state = 'retrying';
    }
  }
}
