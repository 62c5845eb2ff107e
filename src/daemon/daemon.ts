/**
 * The composition root: builds every part from the config, starts them in order and stops them
 * in reverse. Nothing else wires parts together, and nothing imports this module but main.
 */
import { mkdir } from 'node:fs/promises';
import { P2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { LoadedConfig } from '../config/types.js';
import { ControlServer } from '../control/server.js';
import type { IdView } from '../control/api.js';
import { MdnsDiscovery } from '../discovery/mdns.js';
import { PeerTable } from '../discovery/peer-table.js';
import { Inbox } from '../store/inbox.js';
import { StateStore } from '../store/state.js';
import { PROTOCOL_VERSION } from '../protocol/messages.js';
import { createTlsListener, formatPeerId, loadOrCreateIdentity, type Identity, type TlsListener } from '../transport/index.js';
import { TransferManager } from '../transfer/manager.js';
import { peerConnector } from './connector.js';
import { controlHandlers } from './handlers.js';
import { incomingPolicy } from './policy.js';

export interface DaemonDeps {
  logger: Logger;
  version: string;
  pid: number;
}

export interface RunningInfo {
  id: string;
  port: number;
}

export class Daemon {
  readonly #log: Logger;
  readonly #loaded: LoadedConfig;
  readonly #version: string;
  readonly #pid: number;
  /** Stop steps of the parts started so far, run in reverse order. */
  readonly #stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  #stopping: Promise<void> | undefined;

  constructor(deps: DaemonDeps, loaded: LoadedConfig) {
    this.#log = deps.logger;
    this.#loaded = loaded;
    this.#version = deps.version;
    this.#pid = deps.pid;
  }

  async start(options: { signal?: AbortSignal } = {}): Promise<RunningInfo> {
    const signal = options.signal ?? new AbortController().signal;
    const config = this.#loaded.config;
    const log = this.#log;
    const startedAt = Date.now();

    try {
      await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
      const identity: Identity = await loadOrCreateIdentity({ dir: config.stateDir, signal });
      const state = new StateStore({ logger: log.child({ part: 'state' }) }, { dir: config.stateDir, historySize: config.historySize });
      const peers = new PeerTable();

      const inbox = new Inbox({ logger: log.child({ part: 'inbox' }) }, { dir: config.inbox, maxFileSize: config.limits.maxFileSize });

      const manager = new TransferManager(
        {
          logger: log.child({ part: 'transfer' }),
          connector: peerConnector({ identity, peers, state }, { connectTimeoutMs: config.limits.handshakeTimeoutSeconds * 1000 }),
          inbox,
          history: state,
          policy: incomingPolicy({ state, peers }, { accept: config.accept, localName: config.name }),
        },
        {
          localName: config.name,
          software: `p2pd/${this.#version}`,
          maxConcurrentIncoming: config.limits.maxConcurrentIncoming,
          maxConcurrentOutgoing: config.limits.maxConcurrentOutgoing,
          handshakeTimeoutMs: config.limits.handshakeTimeoutSeconds * 1000,
          idleTimeoutMs: config.limits.idleTimeoutSeconds * 1000,
          limits: {
            maxOfferFiles: config.limits.maxOfferFiles,
            maxOfferBytes: config.limits.maxOfferBytes,
            maxFileSize: config.limits.maxFileSize,
          },
        },
      );
      this.#stops.push({ name: 'transfers', stop: () => manager.stop() });

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
      const control = new ControlServer(
        { logger: log.child({ part: 'control' }), handlers: controlHandlers({ manager, peers, state, identityView: idView, startedAt, pid: this.#pid, isReady: () => ready }) },
        { path: config.controlSocket },
      );
      // The control socket is also the single-instance lock: take it before touching the inbox,
      // whose start-up cleans partial files that a running daemon may be writing.
      await control.start({ signal });
      this.#stops.push({ name: 'control', stop: () => control.stop() });

      await inbox.start({ signal });
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
        peers.on('up', (p) => log.info({ peer: p.id, peerName: p.name, addresses: p.addresses }, 'peer appeared'));
        peers.on('down', (p) => log.info({ peer: p.id, peerName: p.name }, 'peer gone'));
      }

      ready = true;
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

  async #listen(identity: Identity, manager: TransferManager): Promise<number> {
    const config = this.#loaded.config;
    const make = (port: number): TlsListener =>
      createTlsListener(
        { identity, logger: this.#log.child({ part: 'tls' }) },
        {
          port,
          handshakeTimeoutMs: config.limits.handshakeTimeoutSeconds * 1000,
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

  /** Stops everything started, newest first; safe to call more than once. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      // Stop order: the listener and mDNS first (no new work, goodbyes out), then drain transfers.
      const order = ['listener', 'discovery', 'transfers', 'control', 'inbox'];
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
