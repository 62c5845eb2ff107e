/**
 * LocalSend devices seen on the LAN, kept apart from mDNS's peer table. Anyone on the LAN can
 * multicast an announcement, so the table keeps the peer table's defences: bounded in size and per
 * source address, entries expire, and a device whose fingerprint a certificate proved is never
 * replaced or shadowed by an unproven claim of the same fingerprint.
 */
import type { DeviceInfo } from './messages.js';

export interface LocalSendDevice {
  /** Proven by its certificate when `verified`, otherwise only claimed. */
  fingerprint: string;
  alias: string;
  deviceModel: string | null;
  deviceType: string;
  address: string;
  port: number;
  protocol: 'http' | 'https';
  /** Its fingerprint was proven by TLS (HTTPS); plain HTTP devices never are. */
  verified: boolean;
  lastSeen: number;
}

export const MAX_DEVICES = 256;
export const MAX_DEVICES_PER_ADDRESS = 4;

export class LocalSendDevices {
  readonly #devices = new Map<string, LocalSendDevice>();
  readonly #now: () => number;
  readonly #expireMs: number;

  constructor(deps: { now?: () => number } = {}, options: { expireMs?: number } = {}) {
    this.#now = deps.now ?? Date.now;
    this.#expireMs = options.expireMs ?? 100_000;
  }

  /** Records a sighting; returns false when it was refused (a bound, or an unproven claim on a proven device). */
  seen(info: DeviceInfo, where: { address: string; port: number }, verifiedFingerprint: string | null): boolean {
    this.prune();
    const verified = verifiedFingerprint !== null;
    const fingerprint = (verifiedFingerprint ?? info.fingerprint).toUpperCase();
    if (fingerprint === '') return false;
    const key = `${fingerprint}@${where.address}`;
    const old = this.#devices.get(key);
    if (!verified && [...this.#devices.values()].some((d) => d.verified && d.fingerprint === fingerprint)) {
      // Only a refresh of the proven entry's time, never its fields.
      if (old?.verified === true) old.lastSeen = this.#now();
      return false;
    }
    if (old === undefined) {
      if (this.#devices.size >= MAX_DEVICES) return false;
      if ([...this.#devices.values()].filter((d) => d.address === where.address).length >= MAX_DEVICES_PER_ADDRESS) return false;
    }
    this.#devices.set(key, {
      fingerprint,
      alias: info.alias,
      deviceModel: info.deviceModel,
      deviceType: info.deviceType,
      address: where.address,
      port: where.port,
      protocol: verified ? 'https' : info.protocol,
      verified,
      lastSeen: this.#now(),
    });
    return true;
  }

  list(): LocalSendDevice[] {
    this.prune();
    return [...this.#devices.values()].map((d) => ({ ...d })).sort((a, b) => b.lastSeen - a.lastSeen);
  }

  /** The device a user means by a fingerprint (or its first 7+ characters) or an alias. */
  find(query: string): LocalSendDevice[] {
    const q = query.toUpperCase();
    const list = this.list();
    const byId = list.filter((d) => q.length >= 7 && d.fingerprint.startsWith(q));
    return byId.length > 0 ? byId : list.filter((d) => d.alias.toUpperCase() === q);
  }

  prune(): void {
    const cutoff = this.#now() - this.#expireMs;
    for (const [k, d] of this.#devices) if (d.lastSeen < cutoff) this.#devices.delete(k);
  }
}
