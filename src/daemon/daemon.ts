/**
 * The composition root: builds every part from the config, starts them in order and stops them
 * in a drain-friendly order. Nothing else wires parts together, and nothing imports this module
 * but main.
 */
import { mkdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { P2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Config, LoadedConfig } from '../config/types.js';
import { Dispatcher } from '../control/dispatcher.js';
import { UnixSocketTransport } from '../control/unix-transport.js';
import type { HttpTransport } from '../control/http-transport.js';
import { UiSessions } from '../control/ui-sessions.js';
import type { IdView } from '../control/views.js';
import { MdnsDiscovery } from '../discovery/mdns.js';
import { PeerTable } from '../discovery/peer-table.js';
import { Outbox } from '../outbox/index.js';
import { Inbox } from '../store/inbox.js';
import { PerPeerInbox } from '../store/per-peer-inbox.js';
import { StateStore } from '../store/state.js';
import { PROTOCOL_VERSION } from '../protocol/messages.js';
import { createTlsListener, formatPeerId, loadOrCreateIdentity, type Identity, type TlsListener } from '../transport/index.js';
import { TransferManager, type ManagerOptions } from '../transfer/manager.js';
import { PairingManager } from '../transfer/pairings.js';
import { ConnectionRateLimiter } from '../transport/rate-limit.js';
import { peerConnector } from './connector.js';
import { peerViews } from './peers-view.js';
import { DaemonEvents } from './events.js';
import { controlHandlers } from './handlers.js';
import { dashboardAuthenticate, dashboardHandlers, dashboardTransport } from './dashboard.js';
import { OnReceiveRunner } from './on-receive.js';
import { namesOf, outboxPeers, outboxSender } from './outbox-wiring.js';
import { incomingPolicy } from './policy.js';
import { Scheduler } from './scheduler.js';
import { SendQueue } from './send-queue.js';

export interface DaemonDeps {
  logger: Logger;
  version: string;
  pid: number;
  /** Loads a config file as at start; the dashboard's settings page checks its writes with it. */
  loadConfigFile?: (file: string) => LoadedConfig;
}

export interface RunningInfo {
  id: string;
  port: number;
}

/** Settings that take effect on SIGHUP; the rest need a restart. */
const RESTART_KEYS = ['name', 'port', 'inbox', 'outbox', 'stateDir', 'controlSocket', 'interfaces', 'discovery', 'delivery', 'historySize', 'inboxPerPeer', 'dashboard'] as const;
/** Limits read once, by parts built at start. */
const RESTART_LIMITS = ['maxFileSize', 'maxConcurrentOutgoing', 'connectionsPerMinute'] as const;

/** The parts a reload reaches. */
interface Parts {
  manager: TransferManager;
  scheduler: Scheduler;
  onReceive: OnReceiveRunner;
}

export class Daemon {
  readonly #log: Logger;
  #loaded: LoadedConfig;
  readonly #version: string;
  readonly #pid: number;
  readonly #loadConfigFile: DaemonDeps['loadConfigFile'];
  /** Stop steps of the parts started so far, keyed by part. */
  readonly #stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  #stopping: Promise<void> | undefined;
  #parts: Parts | undefined;

  constructor(deps: DaemonDeps, loaded: LoadedConfig) {
    this.#log = deps.logger;
    this.#loaded = loaded;
    this.#version = deps.version;
    this.#pid = deps.pid;
    this.#loadConfigFile = deps.loadConfigFile;
  }

  get #config(): Readonly<Config> {
    return this.#loaded.config;
  }

  async start(options: { signal?: AbortSignal } = {}): Promise<RunningInfo> {
    const signal = options.signal ?? new AbortController().signal;
    const config = this.#config;
    const log = this.#log;
    const startedAt = Date.now();

    try {
      await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
      const identity: Identity = await loadOrCreateIdentity({ dir: config.stateDir, signal });
      const state = new StateStore({ logger: log.child({ part: 'state' }) }, { dir: config.stateDir, historySize: config.historySize });
      const peers = new PeerTable();
      const inboxOptions = { dir: config.inbox, maxFileSize: config.limits.maxFileSize };
      const inbox = config.inboxPerPeer
        ? new PerPeerInbox({ logger: log.child({ part: 'inbox' }) }, inboxOptions)
        : new Inbox({ logger: log.child({ part: 'inbox' }) }, inboxOptions);

      const connector = peerConnector({ identity, peers, state }, { connectTimeoutMs: config.limits.handshakeTimeoutSeconds * 1000 });
      const policy = incomingPolicy({ state, peers }, { settings: () => this.#config, localName: config.name });
      let outboxRef: Outbox | undefined;
      let eventsRef: DaemonEvents | undefined;
      const pairings = new PairingManager(
        {
          logger: log.child({ part: 'pairing' }),
          connector,
          policy,
          trust: {
            trust: (peer) => {
              state.trust(peer);
              eventsRef?.peersChanged();
              void outboxRef?.ensurePeerFolder(peer.name);
            },
          },
        },
        {
          localId: identity.id,
          localName: config.name,
          software: `p2pd/${this.#version}`,
          timeoutMs: config.askTimeoutSeconds * 1000,
          handshakeTimeoutMs: config.limits.handshakeTimeoutSeconds * 1000,
          idleTimeoutMs: config.limits.idleTimeoutSeconds * 1000,
        },
      );
      const manager = new TransferManager(
        {
          logger: log.child({ part: 'transfer' }),
          connector,
          inbox,
          history: state,
          policy,
          space: { freeBytes: () => freeBytes(config.inbox) },
          pairing: (request) => pairings.respond(request),
        },
        { localName: config.name, software: `p2pd/${this.#version}`, maxConcurrentOutgoing: config.limits.maxConcurrentOutgoing, ...managerLimits(config) },
      );
      this.#stops.push({ name: 'transfers', stop: () => manager.stop(this.#config.shutdownGraceSeconds * 1000) });

      const onReceive = new OnReceiveRunner(
        { logger: log.child({ part: 'onReceive' }) },
        { command: config.onReceive, timeoutMs: config.onReceiveTimeoutSeconds * 1000 },
      );
      manager.on('received', (f) => onReceive.received({ path: join(config.inbox, ...f.savedAs.split('/')), peer: f.peer }));
      this.#stops.push({ name: 'onReceive', stop: async () => onReceive.stop() });

      const outbox: Outbox = new Outbox(
        { logger: log.child({ part: 'outbox' }), sender: outboxSender({ manager, peers, state }), peers: outboxPeers({ state }) },
        { dir: config.outbox, afterSend: config.delivery.afterSend, stableSeconds: config.delivery.stableSeconds, giveUpHours: config.delivery.giveUpHours },
      );

      outboxRef = outbox;
      const scheduler = new Scheduler(
        { logger: log.child({ part: 'jobs' }) },
        {
          schedules: config.schedules,
          jobs: {
            outboxRescan: () => outbox.rescan(),
            retry: () => outbox.retry(),
            cleanupPartials: async () => {
              await inbox.cleanupPartials({ olderThanMs: this.#config.partialMaxAgeHours * 3_600_000 });
            },
            pruneHistory: async () => {
              state.prune({ olderThanMs: this.#config.historyMaxAgeDays * 86_400_000 });
            },
          },
        },
      );
      this.#stops.push({ name: 'jobs', stop: () => scheduler.stop() });

      const sends = new SendQueue({ manager, state, logger: log.child({ part: 'queue' }) });
      let port = 0;
      let ready = false;
      const idView = (): IdView => ({
        name: config.name,
        id: identity.id,
        fingerprint: formatPeerId(identity.id),
        shortId: identity.id.slice(0, 7),
        port,
        version: this.#version,
        protocolVersion: PROTOCOL_VERSION,
        inbox: config.inbox,
        controlSocket: config.controlSocket,
      });
      const events = new DaemonEvents(
        {
          logger: log.child({ part: 'events' }),
          sources: {
            peers,
            peerViews: () => peerViews(peers, state),
            transfers: manager,
            outbox: () => outbox.queue(),
            offers: () => manager.incoming(),
            pairings: () => pairings.list(),
          },
        },
      );
      eventsRef = events;
      const sessions = new UiSessions();
      let dashboard: HttpTransport | undefined;
      const dashboardDeps = {
        sessions,
        origin: () => (dashboard === undefined ? null : dashboard.origin),
        config: () => this.#config,
        configFile: () => this.#loaded.file,
        loadConfigFile: this.#loadConfigFile,
        apply: (loaded: LoadedConfig) => this.reload(loaded),
      };
      const dispatcher = new Dispatcher(
        {
          logger: log.child({ part: 'control' }),
          authenticate: dashboardAuthenticate(sessions),
          handlers: { ...dashboardHandlers(dashboardDeps), ...controlHandlers({
            manager,
            pairings,
            sends,
            peers,
            state,
            outbox,
            jobs: () => scheduler.list(),
            identityView: idView,
            startedAt,
            pid: this.#pid,
            peersChanged: () => events.peersChanged(),
            watch: (params, ctx) => events.watch(params, ctx),
          }) },
        },
        { isReady: () => ready },
      );
      const control = new UnixSocketTransport({ logger: log.child({ part: 'control' }), dispatcher }, { path: config.controlSocket });
      // The control socket is also the single-instance lock: take it before touching the inbox,
      // whose start-up cleans partial files that a running daemon may be writing.
      await control.start({ signal });
      this.#stops.push({
        name: 'control',
        stop: async () => {
          await dashboard?.stop();
          await control.stop();
          await events.stop();
        },
      });
      dashboard = dashboardTransport({ logger: log.child({ part: 'dashboard' }), dispatcher }, this.#loaded);
      await dashboard?.start({ signal });

      if (inbox instanceof Inbox) await inbox.start({ signal });
      else await mkdir(config.inbox, { recursive: true, mode: 0o700 });
      this.#stops.push({ name: 'inbox', stop: () => inbox.stop() });

      port = await this.#listen(identity, manager);

      if (config.discovery.enabled) {
        const discovery = new MdnsDiscovery(
          { logger: log.child({ part: 'mdns' }) },
          {
            name: config.name,
            id: identity.id,
            port,
            interfaces: config.interfaces,
            refreshSeconds: config.discovery.refreshSeconds,
            onSighting: (s) => peers.seen(s),
            onGoodbye: (id) => peers.gone(id),
          },
        );
        await discovery.start({ signal });
        const expiry = setInterval(() => peers.expire(config.discovery.expireSeconds * 1000), 1000);
        expiry.unref();
        this.#stops.push({
          name: 'discovery',
          stop: async () => {
            clearInterval(expiry);
            await discovery.stop();
          },
        });
      }
      peers.on('up', (p) => {
        log.info({ peer: p.id, peerName: p.name, addresses: p.addresses }, 'peer appeared');
        for (const name of namesOf(p, state)) outbox.peerOnline(name);
        manager.peerOnline(p.id);
      });
      peers.on('down', (p) => log.info({ peer: p.id, peerName: p.name }, 'peer gone'));

      await outbox.start({ signal });
      this.#stops.push({ name: 'outbox', stop: () => outbox.stop() });
      scheduler.start();

      this.#parts = { manager, scheduler, onReceive };
      events.start();
      ready = true;
      await sends.restore();
      log.info(
        { id: identity.id, daemonName: config.name, port, inbox: config.inbox, control: config.controlSocket, config: this.#loaded.file ?? '(defaults)' },
        `p2pd ${this.#version} ready: ${config.name} (${formatPeerId(identity.id)})`,
      );
      return { id: identity.id, port };
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Applies a re-read config (SIGHUP). Policies, limits, timeouts, schedules, onReceive and the
   * log level change at once; keys that shape sockets, paths or announcements need a restart.
   */
  reload(loaded: LoadedConfig): void {
    const before = this.#config;
    const after = loaded.config;
    const needRestart: string[] = RESTART_KEYS.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
    for (const k of RESTART_LIMITS) if (before.limits[k] !== after.limits[k]) needRestart.push(`limits.${k}`);
    const kept: Config = { ...after };
    for (const k of RESTART_KEYS) if (needRestart.includes(k)) (kept as unknown as Record<string, unknown>)[k] = before[k];
    kept.limits = { ...after.limits, ...Object.fromEntries(RESTART_LIMITS.map((k) => [k, before.limits[k]])) };
    this.#loaded = { ...loaded, config: Object.freeze(kept) };
    this.#log.level = after.logLevel;
    if (this.#parts !== undefined) {
      this.#parts.manager.configure(managerLimits(after));
      this.#parts.scheduler.reschedule(after.schedules);
      this.#parts.onReceive.configure({ command: after.onReceive, timeoutMs: after.onReceiveTimeoutSeconds * 1000 });
    }
    this.#log.info({ config: loaded.file ?? '(defaults)' }, 'config reloaded');
    if (needRestart.length > 0) this.#log.warn({ keys: needRestart }, `changes to ${needRestart.join(', ')} take effect after a restart`);
  }

  async #listen(identity: Identity, manager: TransferManager): Promise<number> {
    const config = this.#config;
    const limiter = new ConnectionRateLimiter({ perMinute: config.limits.connectionsPerMinute });
    const make = (port: number): TlsListener =>
      createTlsListener(
        { identity, logger: this.#log.child({ part: 'tls' }) },
        {
          port,
          handshakeTimeoutMs: config.limits.handshakeTimeoutSeconds * 1000,
          admit: (address) => limiter.admit(address),
          onConnection: (socket, peer) => {
            socket.on('error', () => undefined);
            void manager.receive(socket, { id: peer.id, address: peer.address }).finally(() => {
              // Let the last frames (SUMMARY, a refusal) reach the peer before the socket goes.
              socket.end();
              setTimeout(() => socket.destroy(), 2000).unref();
            });
          },
        },
      );
    let listener = make(config.port);
    let port: number;
    try {
      ({ port } = await listener.start());
    } catch (err) {
      // The default port being taken (a second daemon on this machine) is no reason to fail.
      if (!(err instanceof P2pdError && err.code === 'PORT_IN_USE') || this.#loaded.portExplicit) throw err;
      this.#log.warn({ port: config.port }, 'the default port is taken; listening on a free port instead (set "port" to choose one)');
      listener = make(0);
      ({ port } = await listener.start());
    }
    this.#stops.push({ name: 'listener', stop: () => listener.stop() });
    return port;
  }

  /**
   * Stops everything started; safe to call more than once. New work stops first (jobs, listener),
   * mDNS goodbyes go out, running transfers get the grace period, then the rest closes.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const order = ['jobs', 'listener', 'discovery', 'transfers', 'outbox', 'onReceive', 'control', 'inbox'];
      const steps = [...this.#stops].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
      for (const step of steps) {
        try {
          await step.stop();
        } catch (err) {
          this.#log.warn({ err, part: step.name }, 'error while stopping');
        }
      }
      this.#log.info('p2pd stopped');
    })();
    return this.#stopping;
  }
}

function managerLimits(
  config: Readonly<Config>,
): Pick<
  ManagerOptions,
  'limits' | 'handshakeTimeoutMs' | 'idleTimeoutMs' | 'maxConcurrentIncoming' | 'askTimeoutMs' | 'minFreeSpace' | 'retry' | 'keepPartialOnDiskFull'
> {
  return {
    keepPartialOnDiskFull: config.onDiskFull === 'keep',
    retry: {
      minDelayMs: config.retry.minDelaySeconds * 1000,
      maxDelayMs: Math.max(config.retry.minDelaySeconds, config.retry.maxDelaySeconds) * 1000,
      giveUpMs: config.retry.giveUpMinutes * 60_000,
    },
    askTimeoutMs: config.askTimeoutSeconds * 1000,
    minFreeSpace: config.limits.minFreeSpace,
    maxConcurrentIncoming: config.limits.maxConcurrentIncoming,
    handshakeTimeoutMs: config.limits.handshakeTimeoutSeconds * 1000,
    idleTimeoutMs: config.limits.idleTimeoutSeconds * 1000,
    limits: {
      maxOfferFiles: config.limits.maxOfferFiles,
      maxOfferBytes: config.limits.maxOfferBytes,
      maxFileSize: config.limits.maxFileSize,
    },
  };
}

/** Bytes available to this user in the file system that holds `dir`. */
async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}
