/**
 * The mDNS adapter: announces this daemon as `_p2pd._tcp` and reports the peers it hears.
 *
 * One mDNS socket (bonjour-service's) per chosen interface address, each bound to 0.0.0.0:5353 (a
 * socket bound to the interface address would not receive multicast) and sending only out of its
 * interface. With no interface configured, every non-internal IPv4 interface gets one; the library's
 * own default (the default route's interface only, or nothing in a namespace without a multicast
 * route) is never used. When to announce, query and answer is mdns-policy.ts's (RFC 6762); this
 * file builds the records and turns what is heard into checked sightings.
 */
import { networkInterfaces } from 'node:os';
import { Bonjour, type Service } from 'bonjour-service';
import type { Logger } from '../log.js';
import type { Service as LifecycleService } from '../lifecycle.js';
import { P2pdError } from '../errors.js';
import { isPeerId } from '../transport/peer-id.js';
import type { PeerSighting, PeerAddress } from './peer-table.js';
import { MdnsQuerier, MdnsResponder, SERVICE_DOMAIN, sameName, type MdnsPacket, type MdnsSocket, type OwnRecords } from './mdns-policy.js';

export const SERVICE_TYPE = 'p2pd';
export const TXT_PROTOCOL_VERSION = '1';
/** Seconds every announced record lives in a peer's cache (RFC 6762 §10: 120 s for host records). */
export const RECORD_TTL = 120;

export interface MdnsOptions {
  name: string;
  id: string;
  port: number;
  /** Interface names; empty = every non-internal IPv4 interface. */
  interfaces: readonly string[];
  /** Longest interval between queries. */
  refreshSeconds: number;
  /** How long a peer stays listed unheard here; default 3 × refreshSeconds. */
  expireSeconds?: number;
  /** Returns false (or null) when the peer table refused the peer: it is then asked about again. */
  onSighting: (sighting: PeerSighting) => unknown;
  onGoodbye: (id: string) => void;
}

interface Responder {
  iface: string;
  address: string;
  /** Whether an announced address lies on this responder's interface. */
  onLink: (host: string) => boolean;
  bonjour: Bonjour;
  responder: MdnsResponder;
  querier: MdnsQuerier;
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
  }

  /** Asks the network again now, restarting the query backoff. */
  refresh(): void {
    for (const r of this.#responders) r.querier.refresh();
  }

  async stop(): Promise<void> {
    const responders = this.#responders;
    this.#responders = [];
    await Promise.all(
      responders.map(async (r) => {
        r.querier.stop();
        // Goodbye packets (TTL 0) let peers drop us at once instead of waiting for expiry.
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 1000);
          r.responder.goodbye(() => {
            clearTimeout(t);
            resolve();
          });
        });
        await new Promise<void>((resolve) => r.bonjour.destroy(() => resolve()));
      }),
    );
  }

  /** This daemon's records on one interface; every TTL is RECORD_TTL, so peers expire them alike. */
  #records(target: InterfaceAddress): OwnRecords {
    const instance = `${this.instanceName}.${SERVICE_DOMAIN}`;
    const txt = [`id=${this.#opts.id}`, `v=${TXT_PROTOCOL_VERSION}`, `n=${this.#opts.name}`];
    return {
      ptr: { name: SERVICE_DOMAIN, type: 'PTR', ttl: RECORD_TTL, data: instance },
      rest: [
        { name: instance, type: 'SRV', ttl: RECORD_TTL, flush: true, data: { port: this.#opts.port, target: this.hostName, priority: 0, weight: 0 } },
        { name: instance, type: 'TXT', ttl: RECORD_TTL, flush: true, data: txt },
        // Only this interface's address, so `interfaces` really limits what peers learn.
        { name: this.hostName, type: 'A', ttl: RECORD_TTL, flush: true, data: target.address },
      ],
    };
  }

  #startResponder(target: InterfaceAddress): Responder {
    const log = this.#log.child({ iface: target.iface });
    // bonjour-service only provides the socket (one per interface, bound to 0.0.0.0:5353, since a
    // socket bound to the interface address would not receive multicast); when to send what is
    // mdns-policy.ts's, not the library's (it answers every query at once and re-queries blindly).
    const bonjour = new Bonjour({ interface: target.address, bind: '0.0.0.0', multicast: true, loopback: true, reuseAddr: true } as object, (err: unknown) => {
      log.warn({ err }, 'mDNS error');
    });
    const mdns = (bonjour as unknown as { server: { mdns: NodeJS.EventEmitter & MdnsSocket } }).server.mdns;
    mdns.removeAllListeners('query');
    mdns.on('warning', (err: unknown) => log.debug({ err }, 'mDNS warning'));
    mdns.on('error', (err: unknown) => log.warn({ err }, 'mDNS socket error'));
    const records = this.#records(target);
    const responder = new MdnsResponder({ socket: mdns }, { records });
    const querier = new MdnsQuerier(
      { socket: mdns },
      {
        maxIntervalMs: this.#opts.refreshSeconds * 1000,
        expireMs: (this.#opts.expireSeconds ?? this.#opts.refreshSeconds * 3) * 1000,
        self: records.ptr,
      },
    );
    const r: Responder = { iface: target.iface, address: target.address, onLink: onLinkCheck(target), bonjour, responder, querier };
    mdns.on('query', (packet: MdnsPacket, rinfo: { address: string; port: number }) => {
      responder.onQuery(packet, rinfo);
      querier.onQuery(packet, rinfo);
    });
    mdns.on('response', (packet: MdnsPacket, rinfo: { address: string; port: number }) => this.#onResponse(r, packet, rinfo));
    responder.announce();
    querier.start();
    log.info({ address: target.address, instance: this.instanceName, host: this.hostName }, 'announcing over mDNS');
    return r;
  }

  #onResponse(r: Responder, packet: MdnsPacket, rinfo: { address: string; port: number }): void {
    for (const found of servicesIn(packet, rinfo)) {
      if (found.ttl === 0) {
        r.querier.heard(found.instance, 0);
        const id = parseTxt(found.service)?.id;
        if (id !== undefined && id !== this.#opts.id) this.#opts.onGoodbye(id);
        continue;
      }
      const sighting = sightingFromService(found.service, r.iface, r.onLink);
      if (sighting === null) {
        this.#log.debug({ instance: found.instance.slice(0, 80) }, 'ignored a malformed mDNS announcement');
        continue;
      }
      if (sighting.id === this.#opts.id) continue;
      const kept = this.#opts.onSighting(sighting);
      if (kept !== false && kept !== null) r.querier.heard(found.instance, found.ttl);
    }
  }
}

/** The `_p2pd._tcp` services a response describes: PTR, with SRV, TXT and A from the same packet. */
export function servicesIn(packet: MdnsPacket, rinfo: { address: string; port: number }): Array<{ instance: string; ttl: number; service: Service }> {
  const records = [...(packet.answers ?? []), ...(packet.additionals ?? [])];
  const out: Array<{ instance: string; ttl: number; service: Service }> = [];
  for (const ptr of records) {
    if (ptr.type !== 'PTR' || !sameName(ptr.name, SERVICE_DOMAIN) || typeof ptr.data !== 'string') continue;
    const instance = ptr.data;
    if (!instance.toLowerCase().endsWith(`.${SERVICE_DOMAIN}`)) continue;
    const srv = records.find((x) => x.type === 'SRV' && sameName(x.name, instance));
    const txt = records.find((x) => x.type === 'TXT' && sameName(x.name, instance));
    const srvData = (srv?.data ?? {}) as { port?: unknown; target?: unknown };
    const target = typeof srvData.target === 'string' ? srvData.target : '';
    const addresses = records.filter((x) => x.type === 'A' && sameName(x.name, target) && typeof x.data === 'string').map((x) => String(x.data));
    const service = {
      name: instance.slice(0, -(SERVICE_DOMAIN.length + 1)),
      port: srvData.port,
      host: target,
      txt: decodeTxt(txt?.data),
      referer: { address: rinfo.address, port: rinfo.port, family: 'IPv4', size: 0 },
      addresses,
    } as unknown as Service;
    out.push({ instance, ttl: ptr.ttl, service });
  }
  return out;
}

/** TXT strings (`key=value`, as dns-packet gives them: buffers) to an object; keys lower-cased, first wins. */
function decodeTxt(data: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const parts = Array.isArray(data) ? data : data === undefined ? [] : [data];
  for (const p of parts) {
    const s = Buffer.isBuffer(p) ? p.toString('utf8') : typeof p === 'string' ? p : '';
    const eq = s.indexOf('=');
    if (eq <= 0) continue;
    const key = s.slice(0, eq).toLowerCase();
    if (!Object.hasOwn(out, key)) out[key] = s.slice(eq + 1);
  }
  return out;
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
