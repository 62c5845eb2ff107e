/** The store: where received files land (the inbox) and the rules for the names peers send. */
export { Inbox } from './inbox.js';
export type { InboxDeps, InboxLogger, InboxOptions } from './inbox.js';
export { checkTransferId, planOffer } from './offer-plan.js';
export type { OfferPlan, PlannedEntry } from './offer-plan.js';
export {
  DISPLAY_MAX_LENGTH,
  MAX_COMPONENTS,
  MAX_COMPONENT_BYTES,
  MAX_PATH_BYTES,
  NAME_REJECT_REASONS,
  PARTIAL_DIR_NAME,
  checkRelativePath,
  conflictName,
  displayName,
} from './safe-name.js';
export type { NameRejectReason } from './safe-name.js';
// Written alongside the inbox: the sender's view of local files and the daemon's state files.
export { scanLocalPaths } from './local-source.js';
export type { LocalSource } from './local-source.js';
export { StateStore } from './state.js';
export type { TrustedPeer } from './state.js';
