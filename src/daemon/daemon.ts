/**
 * The composition root: builds every part from the config, starts them in a declared order and
 * stops them in a declared drain-friendly order. Nothing else wires parts together, and nothing
 * imports this module but main.
 */
import { dirname, isAbsolute, join } from 'node:path';
import { P2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Config, LoadedConfig } from '../config/types.js';
import { Dispatcher } from '../control/dispatcher.js';
import { ensurePrivateDir, UnixSocketTransport } from '../control/unix-transport.js';
import type { HttpTransport } from '../control/http-transport.js';
import { UiSessions } from '../control/ui-sessions.js';
import type { IdView } from '../control/views.js';
import { identityView } from './views.js';
import { PeerExpiry, PeerTable } from '../discovery/peer-table.js';
import { named, ServiceRunner, stopOnly, type Service } from '../lifecycle.js';
import { Outbox } from '../outbox/index.js';
import { SmallFileReader } from '../store/small-file-reader.js';
import { StateStore } from '../store/state.js';
import { createTlsListener, formatPeerId, loadOrCreateIdentity, type Identity, type TlsListener } from '../transport/index.js';
import { AdmissionGate } from '../transfer/admission.js';
import { TransferManager } from '../transfer/manager.js';
import { P2pdDriver } from '../transfer/p2pd-driver.js';
import { PairingManager } from '../transfer/pairings.js';
import { ConnectionRateLimiter } from '../transport/rate-limit.js';
import { peerConnector } from './connector.js';
import type { LocalSend } from '../localsend/index.js';
import { localsendPeerViews, peerViews } from './peers-view.js';
import { DaemonEvents } from './events.js';
import { controlHandlers } from './handlers.js';
import { dashboardAuthenticate, dashboardHandlers, dashboardTransport } from './dashboard.js';
import { configuredInbox } from './inbox-wiring.js';
import { OnReceiveRunner } from './on-receive.js';
import { namesOf, outboxPeers, outboxSender } from './outbox-wiring.js';
import { groupOutboxSender } from './outbox-groups.js';
import { incomingPolicy } from './policy.js';
import { Scheduler } from './scheduler.js';
import { SendQueue } from './send-queue.js';
import { localsendService, mdnsService, serviceOrder, type DaemonServices } from './services.js';
import { driverLimits, hashThread, freeBytes, gateLimits, managerLimits, ownFiles, reloadable } from './settings.js';

export { serviceOrder, type DaemonServices } from './services.js';

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

/** The parts a reload reaches. */
interface Parts {
  manager: TransferManager;
  gate: AdmissionGate;
  p2pd: P2pdDriver;
  scheduler: Scheduler;
  onReceive: OnReceiveRunner;
}

export class Daemon {
  readonly #log: Logger;
  #loaded: LoadedConfig;
  readonly #version: string;
  readonly #pid: number;
  /** Aborted when stop() has stopped every part; every part's start gets its signal. */
  readonly #root = new AbortController();
  #services: ServiceRunner | undefined;
  readonly #loadConfigFile: DaemonDeps['loadConfigFile'];
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
    const outer = options.signal;
    if (outer?.aborted === true) this.#root.abort(outer.reason);
    else outer?.addEventListener('abort', () => this.#root.abort(outer.reason), { once: true });
    const signal = this.#root.signal;
    const config = this.#config;
    const log = this.#log;
    const startedAt = Date.now();

    try {
      // Checked before anything is written: identity and state must not land in a directory the
      // control socket would then refuse (or that another user could write).
      await ensurePrivateDir(config.stateDir, 'the state directory');
      await ensurePrivateDir(dirname(config.controlSocket));
      const identity: Identity = await loadOrCreateIdentity({ dir: config.stateDir, signal });
      const state = new StateStore({ logger: log.child({ part: 'state' }) }, { dir: config.stateDir, historySize: config.historySize });
      const peers = new PeerTable({ isTrusted: (id) => state.getTrusted(id) !== undefined });
      // A flood of announcements is one log line per source and minute, not one per fake peer.
      peers.on('flood', (f) => log.warn({ source: f.source, refused: f.refused, reason: f.reason }, 'mDNS announcements refused (too many new peers)'));
      const reader = new SmallFileReader();
      const inbox = configuredInbox(config, log);

      // Built before the manager it feeds (its offers reach the manager only once it runs).
      const localsend: LocalSend | undefined = config.localsend.enabled
        ? await localsendService(
            { logger: log.child({ part: 'localsend' }), inbox, manager: (): TransferManager => manager, isTrusted: (id) => state.getTrusted(id) !== undefined },
            { config, version: this.#version },
          )
        : undefined;
      const connector = peerConnector(
        { identity, peers, state, ...(localsend === undefined ? {} : { localsend: (q: string) => localsend.find(q) }) },
        { connectTimeoutMs: config.limits.handshakeTimeoutSeconds * 1000 },
      );
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
      const transferLog = log.child({ part: 'transfer' });
      const gate = new AdmissionGate(
        { logger: transferLog, policy, space: { freeBytes: () => freeBytes(config.inbox) }, history: state },
        { localName: config.name, ...gateLimits(config) },
      );
      const p2pd = new P2pdDriver(
        { logger: transferLog, connector, inbox, pairing: (request) => pairings.respond(request) },
        { localName: config.name, software: `p2pd/${this.#version}`, hashThread: hashThread(), ...driverLimits(config) },
      );
      const manager: TransferManager = new TransferManager(
        { logger: transferLog, connector, history: state, gate, drivers: localsend === undefined ? [p2pd] : [p2pd, localsend.driver] },
        { maxConcurrentOutgoing: config.limits.maxConcurrentOutgoing, ...managerLimits(config) },
      );

      const localsendViews = localsend === undefined ? undefined : () => localsendPeerViews(localsend.list(), state);

      const onReceive = new OnReceiveRunner(
        { logger: log.child({ part: 'onReceive' }) },
        { command: config.onReceive, timeoutMs: config.onReceiveTimeoutSeconds * 1000 },
      );
      manager.on('received', (f) =>
        onReceive.received({ path: isAbsolute(f.savedAs) ? f.savedAs : join(config.inbox, ...f.savedAs.split('/')), peer: f.peer }),
      );

      // `@<group>/` folders send to every member (outbox-groups.ts).
      const outboxGroups = groupOutboxSender(
        outboxSender({ manager, peers, state, reader }, { protect: ownFiles(config) }),
        { state, peers },
        { dir: config.outbox },
      );
      const outbox: Outbox = new Outbox(
        { logger: log.child({ part: 'outbox' }), sender: outboxGroups, peers: outboxPeers({ state }) },
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

      const sends = new SendQueue({ manager, state, reader, logger: log.child({ part: 'queue' }) }, { protect: ownFiles(config) });
      let port = 0;
      let ready = false;
      const idView = (): IdView => identityView(config, identity.id, port, this.#version);
      const events = new DaemonEvents({
        logger: log.child({ part: 'events' }),
        sources: {
          peers,
          peerViews: () => [...peerViews(peers, state), ...(localsendViews?.() ?? [])],
          transfers: manager,
          outbox: () => outbox.queue(),
          offers: () => manager.incoming(),
          pairings: () => pairings.list(),
        },
      });
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
          handlers: {
            ...dashboardHandlers(dashboardDeps),
            ...controlHandlers({
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
              outboxMembers: (path) => outboxGroups.members(path),
              watch: (params, ctx) => events.watch(params, ctx),
              ...(localsendViews === undefined ? {} : { localsend: localsendViews }),
              ...(localsend === undefined ? {} : { localsendOptions: (id, o) => localsend.driver.withOptions(id, o) }),
            }),
          },
        },
        { isReady: () => ready },
      );
      const control = new UnixSocketTransport({ logger: log.child({ part: 'control' }), dispatcher }, { path: config.controlSocket });
      // The event wiring lives as long as the control socket that serves `watch`.
      const controlService: Service = {
        name: 'control',
        // The dashboard is a second transport of the same dispatcher: it lives with the socket.
        start: async (o) => {
          await control.start(o);
          dashboard = dashboardTransport({ logger: log.child({ part: 'dashboard' }), dispatcher }, this.#loaded);
          await dashboard?.start(o);
        },
        stop: async () => {
          await dashboard?.stop();
          await control.stop();
          await events.stop();
        },
      };
      const discovery = config.discovery.enabled
        ? mdnsService({ logger: log.child({ part: 'mdns' }), peers }, { config, id: identity.id, port: () => port })
        : undefined;
      const expiry = config.discovery.enabled ? new PeerExpiry({ peers }, { expireMs: config.discovery.expireSeconds * 1000 }) : undefined;
      peers.on('up', (p) => {
        log.info({ peer: p.id, peerName: p.name, addresses: p.addresses }, 'peer appeared');
        for (const name of namesOf(p, state)) outbox.peerOnline(name);
        manager.peerOnline(p.id);
      });
      peers.on('down', (p) => log.info({ peer: p.id, peerName: p.name }, 'peer gone'));

      let tls: TlsListener | undefined;
      const services: DaemonServices = {
        state,
        transfers: stopOnly('transfers', async () => {
          await manager.stop(this.#config.shutdownGraceSeconds * 1000);
          await reader.stop();
        }),
        onReceive,
        control: controlService,
        inbox: named('inbox', inbox),
        listener: {
          name: 'listener',
          start: async (o: { signal: AbortSignal }) => {
            ({ port, listener: tls } = await this.#listen(identity, manager, o.signal));
          },
          stop: async () => tls?.stop(),
        },
        localsend,
        discovery,
        expiry,
        outbox: named('outbox', outbox),
        jobs: scheduler,
      };
      // Until `ready` below, every control method answers "still starting".
      this.#services = new ServiceRunner(
        { onStopError: (service, err) => log.warn({ err, part: service.name }, 'error while stopping') },
        serviceOrder(services),
      );
      if (this.#stopping !== undefined) throw new P2pdError('DAEMON_NOT_RUNNING', 'the daemon was stopped while starting');
      await this.#services.start({ signal });

      this.#parts = { manager, gate, p2pd, scheduler, onReceive };
      gate.on('offer', (r) => events.publishOffer(r));
      gate.on('offer-end', (e) => events.publishOfferEnd(e.id, e.outcome));
      pairings.on('pairing', (r) => events.publishPairing(r));
      pairings.on('pairing-end', (e) => events.publishPairingEnd(e.id, e.outcome));
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
    const { needRestart, kept } = reloadable(before, after);
    this.#loaded = { ...loaded, config: Object.freeze(kept) };
    this.#log.level = after.logLevel;
    if (this.#parts !== undefined) {
      this.#parts.manager.configure(managerLimits(after));
      this.#parts.gate.configure(gateLimits(after));
      this.#parts.p2pd.configure(driverLimits(after));
      this.#parts.scheduler.reschedule(after.schedules);
      this.#parts.onReceive.configure({ command: after.onReceive, timeoutMs: after.onReceiveTimeoutSeconds * 1000 });
    }
    this.#log.info({ config: loaded.file ?? '(defaults)' }, 'config reloaded');
    if (needRestart.length > 0) this.#log.warn({ keys: needRestart }, `changes to ${needRestart.join(', ')} take effect after a restart`);
  }

  async #listen(identity: Identity, manager: TransferManager, signal: AbortSignal): Promise<{ port: number; listener: TlsListener }> {
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
            void manager.receive({ protocol: 'p2pd', stream: socket, peer: { id: peer.id, address: peer.address, verified: true } }).finally(() => {
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
      ({ port } = await listener.start({ signal }));
    } catch (err) {
      // The default port being taken (a second daemon on this machine) is no reason to fail.
      if (!(err instanceof P2pdError && err.code === 'PORT_IN_USE') || this.#loaded.portExplicit) throw err;
      this.#log.warn({ port: config.port }, 'the default port is taken; listening on a free port instead (set "port" to choose one)');
      listener = make(0);
      ({ port } = await listener.start({ signal }));
    }
    return { port, listener };
  }

  /**
   * Stops everything started, in the declared stop order (see start()); safe to call more than
   * once. The root signal is aborted last, so that the order, not the abort, decides who stops
   * first.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#services?.stop();
      this.#root.abort(new P2pdError('DAEMON_NOT_RUNNING', 'the daemon has stopped'));
      this.#log.info('p2pd stopped');
    })();
    return this.#stopping;
  }
}
