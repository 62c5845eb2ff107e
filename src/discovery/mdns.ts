/**
 * The mDNS adapter: announces this daemon as `_p2pd._tcp` and reports the peers it hears.
 *
 * One bonjour-service responder per chosen interface address, each bound to 0.0.0.0:5353 (a socket
 * bound to the interface address would not receive multicast) and sending only out of its
 * interface. With no interface configured, every non-internal IPv4 interface gets one; the library's
 * own default (the default route's interface only, or nothing in a namespace without a multicast
 * route) is never used.
 */
import { networkInterfaces } from 'node:os';
import { Bonjour, type Browser, type Service } from 'bonjour-service';

type ServiceRecord = ReturnType<Service['records']>[number];
import type { Logger } from '../log.js';
import type { Service as LifecycleService } from '../lifecycle.js';
import { P2pdError } from '../errors.js';
import { isPeerId } from '../transport/peer-id.js';
import type { PeerSighting, PeerAddress } from './peer-table.js';

export const SERVICE_TYPE = 'p2pd';
export const TXT_PROTOCOL_VERSION = '1';

export interface MdnsOptions {
  name: string;
  id: string;
  port: number;
  /** Interface names; empty = every non-internal IPv4 interface. */
  interfaces: readonly string[];
  refreshSeconds: number;
  onSighting: (sighting: PeerSighting) => void;
  onGoodbye: (id: string) => void;
}

interface Responder {
  iface: string;
  address: string;
  /** Whether an announced address lies on this responder's interface. */
  onLink: (host: string) => boolean;
  bonjour: Bonjour;
  service: Service;
  browser: Browser | undefined;
}

export interface InterfaceAddress {
  iface: string;
  address: string;
  /** Dotted IPv4 netmask, where the system gives one: announced addresses must lie in this subnet. */
  netmask?: string;
}

/** The IPv4 addresses mDNS runs on, from the `interfaces` setting. */
export function pickInterfaces(wanted: readonly string[], ifaces = networkInterfaces()): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  for (const [name, addrs] of Object.entries(ifaces)) {
    if (wanted.length > 0 && !wanted.includes(name)) continue;
    const v4 = (addrs ?? []).find((a) => a.family === 'IPv4' && (wanted.length > 0 || !a.internal));
    if (v4 !== undefined) out.push({ iface: name, address: v4.address, ...(v4.netmask ? { netmask: v4.netmask } : {}) });
  }
  const missing = wanted.filter((w) => !out.some((o) => o.iface === w));
  if (missing.length > 0) {
    throw new P2pdError('CONFIG_INVALID', `interfaces: no IPv4 address on ${missing.join(', ')}; known interfaces are ${Object.keys(ifaces).join(', ')}`, {
      details: { key: 'interfaces', missing },
    });
  }
  return out;
}

export class MdnsDiscovery implements LifecycleService {
  readonly name = 'discovery';
  readonly #log: Logger;
  readonly #opts: MdnsOptions;
  #responders: Responder[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: { logger: Logger }, options: MdnsOptions) {
    this.#log = deps.logger;
    this.#opts = options;
  }

  /** The host name this daemon announces: its own, since daemons on one machine share the OS's. */
  get hostName(): string {
    const label =
      this.#opts.name
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, '-')
        .replace(/^-+|-+$/g, '') || 'p2pd';
    return `${label.slice(0, 40)}-${this.#opts.id.slice(0, 7).toLowerCase()}.local`;
  }

  get instanceName(): string {
    return `${this.#opts.name}#${this.#opts.id.slice(0, 7)}`;
  }

  async start(_options: { signal?: AbortSignal } = {}): Promise<void> {
    const targets = pickInterfaces(this.#opts.interfaces);
    if (targets.length === 0) {
      this.#log.warn('no network interface with an IPv4 address to announce on: peers will not see this daemon (set "interfaces")');
    }
    for (const target of targets) this.#responders.push(this.#startResponder(target));
    this.#timer = setInterval(() => this.refresh(), this.#opts.refreshSeconds * 1000);
    this.#timer.unref();
  }

  /** Asks the network again; a fresh browser reports every live peer, which refreshes its lastSeen. */
  refresh(): void {
    for (const r of this.#responders) {
      r.browser?.stop();
      r.browser = this.#browse(r);
    }
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const responders = this.#responders;
    this.#responders = [];
    await Promise.all(
      responders.map(async (r) => {
        r.browser?.stop();
        // Goodbye packets (TTL 0) let peers drop us at once instead of waiting for expiry.
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 1000);
          r.bonjour.unpublishAll(() => {
            clearTimeout(t);
            resolve();
          });
        });
        await new Promise<void>((resolve) => r.bonjour.destroy(() => resolve()));
      }),
    );
  }

  #startResponder(target: InterfaceAddress): Responder {
    const log = this.#log.child({ iface: target.iface });
    const bonjour = new Bonjour({ interface: target.address, bind: '0.0.0.0', multicast: true, loopback: true, reuseAddr: true } as object, (err: unknown) => {
      log.warn({ err }, 'mDNS error');
    });
    const mdns = (bonjour as unknown as { server: { mdns: NodeJS.EventEmitter } }).server.mdns;
    mdns.on('warning', (err: unknown) => log.debug({ err }, 'mDNS warning'));
    mdns.on('error', (err: unknown) => log.warn({ err }, 'mDNS socket error'));
    // Probing would see this daemon's own responders on the other interfaces as a conflict; the
    // instance name carries our id, so it cannot clash with anyone else's.
    (bonjour as unknown as { registry: { probe: (m: unknown, s: unknown, cb: (exists: boolean) => void) => void } }).registry.probe = (_m, _s, cb) =>
      setImmediate(cb, false);
    const service = bonjour.publish({
      name: this.instanceName,
      type: SERVICE_TYPE,
      port: this.#opts.port,
      host: this.hostName,
      txt: { id: this.#opts.id, v: TXT_PROTOCOL_VERSION, n: this.#opts.name },
      probe: true,
      disableIPv6: true,
    });
    // The library announces every non-internal address of the machine; announce only this
    // interface's, so `interfaces` really limits what peers learn (and loopback works for tests).
    const original = service.records.bind(service);
    service.records = (): ServiceRecord[] => [
      ...original().filter((r) => r.type !== 'A' && r.type !== 'AAAA'),
      { name: service.host, type: 'A', ttl: 120, data: target.address },
    ];
    service.on('error', (err: unknown) => log.warn({ err }, 'mDNS publish error'));
    const responder: Responder = { iface: target.iface, address: target.address, onLink: onLinkCheck(target), bonjour, service, browser: undefined };
    responder.browser = this.#browse(responder);
    log.info({ address: target.address, instance: this.instanceName, host: this.hostName }, 'announcing over mDNS');
    return responder;
  }

  #browse(r: Responder): Browser {
    const browser = r.bonjour.find({ type: SERVICE_TYPE });
    browser.on('up', (svc: Service) => this.#onUp(r, svc));
    browser.on('txt-update', (svc: Service) => this.#onUp(r, svc));
    browser.on('srv-update', (svc: Service) => this.#onUp(r, svc));
    browser.on('down', (svc: Service) => {
      const id = parseTxt(svc)?.id;
      if (id !== undefined && id !== this.#opts.id) this.#opts.onGoodbye(id);
    });
    return browser;
  }

  #onUp(r: Responder, svc: Service): void {
    const sighting = sightingFromService(svc, r.iface, r.onLink);
    if (sighting === null) {
      this.#log.debug({ instance: String(svc.name).slice(0, 80) }, 'ignored a malformed mDNS announcement');
      return;
    }
    if (sighting.id === this.#opts.id) return;
    this.#opts.onSighting(sighting);
  }
}

function parseTxt(svc: Service): { id: string; name: string | undefined } | null {
  const txt = (svc.txt ?? {}) as Record<string, unknown>;
  const id = typeof txt.id === 'string' ? txt.id : undefined;
  // Canonical ids only: a 52-character string that no key can have would fail later, at send.
  if (id === undefined || !isPeerId(id)) return null;
  return { id, name: typeof txt.n === 'string' ? txt.n : undefined };
}

/**
 * Everything in an announcement is checked: a hostile responder can put anything there. Only
 * IPv4 addresses on the interface the announcement came in on are kept (`onLink`): a peer on
 * this link cannot be reached at a loopback, another subnet or a multicast address, and dialing
 * one would let a stranger point this daemon at services of the machine or of other networks.
 */
export function sightingFromService(svc: Service, via: string, onLink: (host: string) => boolean = () => true): PeerSighting | null {
  const txt = parseTxt(svc);
  if (txt === null) return null;
  if (!Number.isInteger(svc.port) || svc.port < 1 || svc.port > 65535) return null;
  const rawName = txt.name ?? String(svc.name ?? '').replace(/#[A-Z2-7]{7}$/, '');
  const name = cleanPeerName(rawName);
  if (name === '') return null;
  const hosts = new Set<string>();
  if (svc.referer?.address) hosts.add(svc.referer.address);
  for (const a of svc.addresses ?? []) {
    if (typeof a === 'string' && !a.toLowerCase().startsWith('fe80:')) hosts.add(a);
  }
  const addresses: PeerAddress[] = [...hosts].filter((h) => isIpv4(h) && onLink(h)).map((host) => ({ host, port: svc.port }));
  if (addresses.length === 0) return null;
  const source = svc.referer?.address;
  return { id: txt.id, name, addresses, via, ...(typeof source === 'string' ? { source } : {}) };
}

/** Peer names are shown in terminals and logs: no control, bidi or format characters, short. */
export function cleanPeerName(raw: string): string {
  return raw
    .normalize('NFC')
    .replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff#/\\]/g, '')
    .trim()
    .slice(0, 63);
}

function isIpv4(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) && s.split('.').every((o) => Number(o) <= 255);
}

function ipv4ToInt(s: string): number {
  return s.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
}

/**
 * Addresses of the interface's subnet, minus its network and broadcast addresses; on an
 * interface without a netmask (never seen on Linux), the interface's own /24.
 */
export function onLinkCheck(target: InterfaceAddress): (host: string) => boolean {
  const mask = ipv4ToInt(target.netmask ?? '255.255.255.0');
  const net = ipv4ToInt(target.address) & mask;
  return (host) => {
    if (!isIpv4(host)) return false;
    const h = ipv4ToInt(host);
    if ((h & mask) >>> 0 !== net >>> 0) return false;
    const hostPart = (h & ~mask) >>> 0;
    return mask === 0xffffffff || (hostPart !== 0 && hostPart !== ~mask >>> 0) || mask >>> 0 === 0xfffffffe;
  };
}
