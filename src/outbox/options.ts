/** The outbox's options, checked once at construction. */
import { P2pdError } from '../errors.js';

export interface OutboxOptions {
  /** The outbox folder; created (0700) if missing. */
  dir: string;
  afterSend: 'move' | 'delete';
  stableSeconds: number;
  /** 0 = never give up on transient failures. */
  giveUpHours: number;
  /** Most sends at once; default 2. */
  maxConcurrent?: number;
  /** Watch the folders for changes (default true); without it only rescan() notices new items. */
  watch?: boolean;
}

/** Throws CONFIG_INVALID naming the key of the first bad value; returns maxConcurrent with its default. */
export function checkOptions(options: OutboxOptions): number {
  if (typeof options.dir !== 'string' || options.dir.length === 0) invalid('outbox', 'must be a non-empty path');
  if (!(options.stableSeconds >= 0)) invalid('delivery.stableSeconds', 'must be 0 or more');
  if (!(options.giveUpHours >= 0)) invalid('delivery.giveUpHours', 'must be 0 or more');
  const maxConcurrent = options.maxConcurrent ?? 2;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) invalid('maxConcurrent', 'must be a positive integer');
  return maxConcurrent;
}

function invalid(key: string, what: string): never {
  throw new P2pdError('CONFIG_INVALID', `${key} ${what}`, { details: { key } });
}
