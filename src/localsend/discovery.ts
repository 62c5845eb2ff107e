/**
 * LocalSend's multicast discovery (224.0.0.167:53317): announce this device on the chosen
 * interfaces only, and answer others' announcements by an HTTPS register, as v2.2 does. An
 * announcement proves nothing; a device counts as verified only once its HTTPS certificate showed
 * the fingerprint it announced.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { Logger } from '../log.js';
import { lsRequest } from './client.js';
import { sameFingerprint, type LocalSendIdentity } from './identity.js';
import { parseDeviceInfo, type DeviceInfo } from './messages.js';
import type { LocalSendDevices } from './devices.js';

export const MULTICAST_GROUP = '224.0.0.167';
export const MULTICAST_PORT = 53317;
const MAX_DATAGRAM = 64 * 1024;
/** Registers in flight at once: a flood of announcements must not become a flood of connections. */
const MAX_REGISTERS = 8;

export interface LocalSendDiscoveryOptions {
  /** Interface names; empty = every non-internal one. */
  interfaces: readonly string[];
  /** The port of our HTTPS server, announced. */
  port: number;
  announceEveryMs: number;
  multicastPort?: number;
}

/** The IPv4 addresses of the chosen interfaces. */
export function interfaceAddresses(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (names.length > 0 ? !names.includes(name) : false) continue;
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4') continue;
      if (names.length === 0 && a.internal) continue;
      out.push(a.address);
    }
  }
  return out;
}

export class LocalSendDiscovery {
  readonly name = 'localsend-discovery';
  readonly #log: Logger;
  readonly #devices: LocalSendDevices;
  readonly #identity: LocalSendIdentity;
  readonly #info: () => Omit<DeviceInfo, 'port' | 'protocol'>;
  readonly #opts: LocalSendDiscoveryOptions;
  #socket: Socket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #registers = 0;
  readonly #stop = new AbortController();

  constructor(
    deps: { logger: Logger; devices: LocalSendDevices; identity: LocalSendIdentity; info: () => Omit<DeviceInfo, 'port' | 'protocol'> },
    options: LocalSendDiscoveryOptions,
  ) {
    this.#log = deps.logger;
    this.#devices = deps.devices;
    this.#identity = deps.identity;
    this.#info = deps.info;
    this.#opts = { ...options };
  }

  async start({ signal }: { signal: AbortSignal }): Promise<void> {
    const addresses = interfaceAddresses(this.#opts.interfaces);
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    this.#socket = socket;
    socket.on('error', (err) => this.#log.warn({ err: err.message }, 'LocalSend multicast socket error'));
    socket.on('message', (msg, rinfo) => this.handle(msg, rinfo));
    await new Promise<void>((resolve) => socket.bind(this.#opts.multicastPort ?? MULTICAST_PORT, resolve));
    signal.throwIfAborted();
    for (const a of addresses) {
      try {
        socket.addMembership(MULTICAST_GROUP, a);
      } catch (err) {
        this.#log.warn({ address: a, err: (err as Error).message }, 'cannot join the LocalSend multicast group');
      }
    }
    this.announce(addresses);
    this.#timer = setInterval(() => this.announce(interfaceAddresses(this.#opts.interfaces)), this.#opts.announceEveryMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#stop.abort();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  /** One announcement per chosen interface, sent out of that interface only. */
  announce(addresses: readonly string[]): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    const body = Buffer.from(JSON.stringify({ ...this.#info(), port: this.#opts.port, protocol: 'https', announce: true, announcement: true }));
    for (const a of addresses) {
      try {
        socket.setMulticastInterface(a);
        socket.send(body, this.#opts.multicastPort ?? MULTICAST_PORT, MULTICAST_GROUP);
      } catch (err) {
        this.#log.debug({ address: a, err: (err as Error).message }, 'LocalSend announcement not sent');
      }
    }
  }

  /** A datagram from the group: a device announcing itself (answered by register) or answering. */
  handle(msg: Buffer, rinfo: Pick<RemoteInfo, 'address'>): void {
    if (msg.length > MAX_DATAGRAM) return;
    let raw: unknown;
    let info: DeviceInfo;
    try {
      raw = JSON.parse(msg.toString('utf8')) as unknown;
      info = parseDeviceInfo(raw);
    } catch {
      return;
    }
    if (sameFingerprint(info.fingerprint, this.#identity.fingerprint)) return;
    const announce =
      typeof raw === 'object' && raw !== null && ((raw as Record<string, unknown>).announce === true || (raw as Record<string, unknown>).announcement === true);
    const port = info.port ?? MULTICAST_PORT;
    this.#devices.seen(info, { address: rinfo.address, port }, null);
    if (!announce || info.protocol !== 'https' || this.#registers >= MAX_REGISTERS) return;
    this.#registers++;
    void this.#register(info, rinfo.address, port).finally(() => this.#registers--);
  }

  /** The HTTPS register that answers an announcement and proves the device's fingerprint. */
  async #register(info: DeviceInfo, address: string, port: number): Promise<void> {
    try {
      const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(5000)]);
      const reply = await lsRequest(
        { address, port, fingerprint: info.fingerprint },
        { method: 'POST', path: 'register', json: { ...this.#info(), port: this.#opts.port, protocol: 'https' } },
        { identity: this.#identity, signal },
      );
      if (reply.status !== 200) return;
      this.#devices.seen({ ...info, ...parseDeviceInfo(reply.json), port, protocol: 'https' }, { address, port }, reply.fingerprint);
    } catch (err) {
      this.#log.debug({ address, err: (err as Error).message }, 'LocalSend register failed');
    }
  }
}
