/**
 * What a scan of the outbox means for the items: new ones start settling, changed idle ones
 * settle again, removed ones are forgotten, and each odd thing found (a stray file, an unreadable
 * or unsupported item) is warned about once while it lasts.
 */
import type { Logger } from '../log.js';
import { displayName } from '../store/safe-name.js';
import { itemKey, type ItemTable, type OutboxItem } from './item-table.js';
import type { OutboxScan } from './scan.js';
import { sameSignature, type ItemSignature } from './signature.js';
import type { WarnOnce } from './warn-once.js';

export interface ApplyContext {
  table: ItemTable;
  now: number;
  logger: Logger;
  warnings: WarnOnce;
  add(peer: string, name: string, signature: ItemSignature, now: number): void;
  observe(item: OutboxItem, signature: ItemSignature, now: number): void;
}

/** `startedAt`: the table's removal count when the scan began (see ItemTable.removedSince). */
export function applyScan(found: OutboxScan, startedAt: number, ctx: ApplyContext): void {
  const { table, logger, warnings } = ctx;
  const now = ctx.now;
  const warnedNow = new Set<string>();
  const seen = new Set<string>();
  const unreadable = new Set<string>();
  const unreadablePeers = new Set<string>();

  for (const name of found.strays) {
    const key = `stray:${name}`;
    warnedNow.add(key);
    warnings.once(key, () => logger.warn({ name: displayName(name) }, 'ignored: only folders named after peers belong directly in the outbox'));
  }
  for (const failure of found.failures) {
    if (failure.name === '') unreadablePeers.add(failure.peer);
    else unreadable.add(itemKey(failure.peer, failure.name));
    const key = `unreadable:${failure.peer}/${failure.name}`;
    warnedNow.add(key);
    warnings.once(key, () => logger.warn({ err: failure.err, item: displayName(`${failure.peer}/${failure.name}`) }, 'cannot read an outbox item; it waits'));
  }

  for (const { peer, name, probe } of found.items) {
    const key = itemKey(peer, name);
    seen.add(key);
    if (probe === null) continue; // busy: being sent or moved
    const existing = table.get(key);
    if (probe.type === 'unsupported') {
      const warnKey = `unsupported:${key}`;
      warnedNow.add(warnKey);
      warnings.once(warnKey, () => logger.warn({ item: displayName(key), what: probe.what }, 'not sent: only regular files and folders are'));
      if (existing !== undefined && !table.isBusy(key)) table.forget(existing);
      continue;
    }
    if (probe.type !== 'item') continue;
    if (existing !== undefined) {
      if (!table.isBusy(key)) ctx.observe(existing, probe.signature, now);
      continue;
    }
    if (table.removedSince(key, startedAt)) continue; // done with while this scan ran
    const parked = table.parked.get(key);
    if (parked !== undefined) {
      if (sameSignature(parked, probe.signature)) continue;
      table.parked.delete(key);
    }
    ctx.add(peer, name, probe.signature, now);
  }

  for (const item of table.values()) {
    if (seen.has(item.key) || unreadable.has(item.key) || unreadablePeers.has(item.peer) || table.isBusy(item.key)) continue;
    logger.info({ item: displayName(item.key) }, 'removed from the outbox before it was sent');
    table.forget(item);
  }
  for (const key of table.parked.keys()) if (!seen.has(key)) table.parked.delete(key);
  // Scans run one at a time: whatever was removed before this one ended cannot confuse the next.
  table.clearRemoved();
  // Warn again about a condition that went away and came back.
  warnings.keepOnly((key) => key === 'outbox-unreadable' || warnedNow.has(key));
}
