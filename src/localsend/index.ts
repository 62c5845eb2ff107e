/**
 * LocalSend v2 as a second protocol (docs/LOCALSEND.md): the receiving HTTPS server, multicast
 * discovery and the table of LocalSend devices, as one service the daemon starts after p2pd's own
 * listener. Offers go through the manager's session (`receive`), so the admission gate, inbox,
 * history and events are p2pd's own.
 */
import type { Logger } from '../log.js';
import type { InboxStore } from '../transfer/ports.js';
import { LocalSendDevices, type LocalSendDevice } from './devices.js';
import { LocalSendDiscovery, interfaceAddresses } from './discovery.js';
import { loadLocalSendIdentity, type LocalSendIdentity } from './identity.js';
import { LocalSendServer, type RunInbound } from './server.js';
import { LocalSendDriver } from './driver.js';

export { LocalSendDevices, type LocalSendDevice } from './devices.js';
export { LocalSendServer, type RunInbound, type SeenDevice } from './server.js';
export { LocalSendDriver, type LocalSendSendOptions } from './driver.js';
export { loadLocalSendIdentity, certificateFingerprint, type LocalSendIdentity } from './identity.js';

export interface LocalSendOptions {
  stateDir: string;
  alias: string;
  port: number;
  /** "" = no PIN. */
  pin: string;
  /** Send to plain-HTTP devices without a per-send opt-in (`localsend.allowHttp`). */
  allowHttp?: boolean;
  /** Interface names; the HTTPS server binds their IPv4 addresses. Empty = every address. */
  interfaces: readonly string[];
  /** Multicast announcements and register answers; off leaves only the HTTPS server. */
  discovery: boolean;
  announceEveryMs: number;
  expireMs: number;
  idleTimeoutMs: number;
  /** Address to bind the HTTPS server to, overriding `interfaces` (tests). */
  host?: string;
  version: string;
}

export class LocalSend {
  readonly name = 'localsend';
  readonly devices: LocalSendDevices;
  /** Sends to LocalSend devices (the manager's session driver for protocol "localsend"). */
  readonly driver: LocalSendDriver;
  readonly #log: Logger;
  readonly #inbox: InboxStore;
  readonly #receive: RunInbound;
  readonly #opts: LocalSendOptions;
  #server: LocalSendServer | undefined;
  #discovery: LocalSendDiscovery | undefined;
  #identity: LocalSendIdentity | undefined;

  constructor(deps: { logger: Logger; inbox: InboxStore; receive: RunInbound; isTrusted?: (fingerprint: string) => boolean }, options: LocalSendOptions) {
    this.#log = deps.logger;
    this.#inbox = deps.inbox;
    this.#receive = deps.receive;
    this.#opts = { ...options };
    this.devices = new LocalSendDevices({}, { expireMs: options.expireMs });
    this.driver = new LocalSendDriver({
      devices: this.devices,
      identity: () => this.#identity,
      info: () => ({ ...this.#server?.deviceInfo(), port: this.port, protocol: 'https' }),
      allowHttp: () => this.#opts.allowHttp === true,
      ...(deps.isTrusted === undefined ? {} : { isTrusted: deps.isTrusted }),
    });
  }

  /** The fingerprint LocalSend devices know this daemon by (after start). */
  get fingerprint(): string | null {
    return this.#identity?.fingerprint ?? null;
  }

  get port(): number {
    return this.#server?.port ?? 0;
  }

  async start({ signal }: { signal: AbortSignal }): Promise<void> {
    const identity = await loadLocalSendIdentity({ stateDir: this.#opts.stateDir, signal });
    this.#identity = identity;
    const server = new LocalSendServer(
      {
        logger: this.#log,
        inbox: this.#inbox,
        receive: this.#receive,
        identity,
        onDevice: (d) => this.devices.seen(d.info, { address: d.address, port: d.info.port ?? this.#opts.port }, d.verifiedFingerprint),
      },
      {
        port: this.#opts.port,
        alias: this.#opts.alias,
        deviceModel: `p2pd ${this.#opts.version}`,
        pin: this.#opts.pin,
        idleTimeoutMs: this.#opts.idleTimeoutMs,
        ...this.#bind(),
      },
    );
    this.#server = server;
    await server.start({ signal });
    // Nothing to announce when no chosen interface had an address to serve on.
    if (!this.#opts.discovery || server.port === 0) return;
    this.#discovery = new LocalSendDiscovery(
      { logger: this.#log, devices: this.devices, identity, info: () => server.deviceInfo() },
      { interfaces: this.#opts.interfaces, port: server.port, announceEveryMs: this.#opts.announceEveryMs },
    );
    await this.#discovery.start({ signal });
  }

  /**
   * Where the HTTPS server listens: with `interfaces` chosen, only on their IPv4 addresses (the
   * addresses announcements go out from; LocalSend discovery is IPv4), read once at start.
   */
  #bind(): { host?: string; hosts?: string[] } {
    if (this.#opts.host !== undefined) return { host: this.#opts.host };
    if (this.#opts.interfaces.length === 0) return {};
    return { hosts: interfaceAddresses(this.#opts.interfaces) };
  }

  /** The PIN may change while running (SIGHUP). */
  configure(options: { pin: string }): void {
    this.#opts.pin = options.pin;
    this.#server?.configure({ pin: options.pin });
  }

  async stop(): Promise<void> {
    await this.#discovery?.stop();
    await this.#server?.stop();
  }

  /** The one LocalSend device a user means (fingerprint, its start, or alias), or null. */
  find(query: string): { id: string; name: string } | null {
    const hits = this.devices.find(query);
    return hits.length === 1 ? { id: hits[0]!.fingerprint, name: hits[0]!.alias } : null;
  }

  list(): LocalSendDevice[] {
    return this.devices.list();
  }
}
