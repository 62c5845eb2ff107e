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
