/**
 * The daemon's long-lived parts as services, and the one place that declares in which order they
 * start and stop.
 */
import type { Config } from '../config/types.js';
import { MdnsDiscovery } from '../discovery/mdns.js';
import type { PeerTable } from '../discovery/peer-table.js';
import type { Service, ServiceRunnerOptions } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { LocalSend } from '../localsend/index.js';
import type { InboxStore } from '../transfer/ports.js';
import type { TransferManager } from '../transfer/manager.js';

/** mDNS as a service, built at start: it announces the port the listener got. */
export function mdnsService(deps: { logger: Logger; peers: PeerTable }, options: { config: Readonly<Config>; id: string; port: () => number }): Service {
  let discovery: MdnsDiscovery | undefined;
  const { config } = options;
  return {
    name: 'discovery',
    start: (o) => {
      discovery = new MdnsDiscovery(
        { logger: deps.logger },
        {
          name: config.name,
          id: options.id,
          port: options.port(),
          interfaces: config.interfaces,
          refreshSeconds: config.discovery.refreshSeconds,
          expireSeconds: config.discovery.expireSeconds,
          onSighting: (s) => deps.peers.seen(s),
          onGoodbye: (id) => deps.peers.gone(id),
        },
      );
      return discovery.start(o);
    },
    stop: async () => discovery?.stop(),
  };
}

/**
 * LocalSend (docs/LOCALSEND.md) as a service: its offers go through the manager's session. Loaded
 * only when enabled (it is off by default): its modules would stay in every daemon's memory.
 */
export async function localsendService(
  deps: { logger: Logger; inbox: InboxStore; manager: () => TransferManager; isTrusted?: (id: string) => boolean },
  options: { config: Readonly<Config>; version: string },
): Promise<LocalSend> {
  const { config } = options;
  const { LocalSend } = await import('../localsend/index.js');
  return new LocalSend(
    {
      logger: deps.logger,
      inbox: deps.inbox,
      receive: (peer, run, o) => deps.manager().receiveSession({ ...peer, protocol: 'localsend' }, run, o),
      ...(deps.isTrusted === undefined ? {} : { isTrusted: deps.isTrusted }),
    },
    {
      stateDir: config.stateDir,
      alias: config.name,
      port: config.localsend.port,
      pin: config.localsend.pin,
      allowHttp: config.localsend.allowHttp,
      interfaces: config.interfaces,
      discovery: config.discovery.enabled,
      announceEveryMs: config.discovery.refreshSeconds * 1000,
      expireMs: config.discovery.expireSeconds * 1000,
      idleTimeoutMs: config.limits.idleTimeoutSeconds * 1000,
      version: options.version,
    },
  );
}

/** The daemon's services, by role. */
export interface DaemonServices {
  state: Service;
  transfers: Service;
  onReceive: Service;
  control: Service;
  inbox: Service;
  listener: Service;
  /** LocalSend's HTTPS server and multicast discovery, when `localsend.enabled`. */
  localsend?: Service | undefined;
  discovery: Service | undefined;
  expiry: Service | undefined;
  outbox: Service;
  jobs: Service;
}

/** The declared start and stop orders (exported for a test). */
export function serviceOrder(s: DaemonServices): ServiceRunnerOptions {
  return {
    // The control socket is also the single-instance lock: it is taken before the state and the
    // inbox, whose start-ups clean files that a running daemon may be writing.
    start: [s.transfers, s.onReceive, s.control, s.state, s.inbox, s.listener, s.localsend, s.discovery, s.expiry, s.outbox, s.jobs],
    // New work stops first (jobs, listener, mDNS goodbyes), running transfers get the grace
    // period, then the rest closes; the state is flushed last, after everything that writes it.
    stop: [s.jobs, s.listener, s.localsend, s.expiry, s.discovery, s.transfers, s.outbox, s.onReceive, s.control, s.inbox, s.state],
  };
}
