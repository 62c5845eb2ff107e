/** The inbox the config describes: one folder or a folder per peer, with the allowed destinations. */
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import { DestinationsInbox } from '../store/destinations.js';
import { Inbox } from '../store/inbox.js';
import { PerPeerInbox } from '../store/per-peer-inbox.js';

export function configuredInbox(config: Readonly<Config>, log: Logger): DestinationsInbox {
  const logger = log.child({ part: 'inbox' });
  const options = { dir: config.inbox, maxFileSize: config.limits.maxFileSize, minFreeSpace: config.limits.minFreeSpace };
  const inbox = config.inboxPerPeer ? new PerPeerInbox({ logger }, options) : new Inbox({ logger }, options);
  return new DestinationsInbox({ logger, inbox }, { destinations: config.destinations, maxFileSize: config.limits.maxFileSize });
}
