/**
 * The outbox: files and folders dropped into `<outbox>/<peer>/` are sent to that peer once they
 * have stopped changing, then moved to `.sent/` (or deleted); undeliverable ones go to `.failed/`
 * with a note. The daemon implements the ports and drives rescan()/retry() from its jobs.
 */
export { Outbox, isPeerFolderName } from './outbox.js';
export type { OutboxDeps, OutboxEvents, OutboxOptions } from './outbox.js';
export type { OutboxChange } from './item-table.js';
export type { OutboxItemState, OutboxItemView, OutboxPeers, OutboxSender, SendOutcome } from './ports.js';
export { PERMANENT_CODES, classifyFailure } from './classify.js';
export type { FailureClass } from './classify.js';
export { FAILED_DIR, NOTE_SUFFIX, SENT_DIR } from './moves.js';
