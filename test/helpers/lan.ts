/**
 * A simulated LAN on this machine: a "switch" network namespace holding a bridge, and one
 * namespace per host, each joined to the bridge by a veth pair and given an address from
 * 198.51.100.0/24 (TEST-NET-2: documentation-only, never routed). Nothing is attached to the real
 * interfaces, so no packet can leave the machine. Needs root and iproute2.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const SUBNET = '198.51.100';

export interface LanHost {
  name: string;
  netns: string;
  address: string;
  /** Command prefix that runs a program inside the host. */
  prefix: string[];
}

/** Why namespaces cannot be made here, or null if they can. */
export function lanUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root (network namespaces need root; CI runs as root)';
  const ip = spawnSync('ip', ['-V']);
  if (ip.error !== undefined || ip.status !== 0) return 'iproute2 (`ip`) is not installed';
  const probe = `p2pd-probe-${randomBytes(3).toString('hex')}`;
  const add = spawnSync('ip', ['netns', 'add', probe]);
  if (add.status !== 0) return `cannot create a network namespace: ${add.stderr.toString().trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

export class Lan {
  readonly #tag = randomBytes(3).toString('hex');
  readonly #switch: string;
  readonly hosts: LanHost[] = [];

  constructor() {
    this.#switch = `p2pd-sw-${this.#tag}`;
  }

  static create(hostNames: string[]): Lan {
    const lan = new Lan();
    try {
      lan.#ip('netns', 'add', lan.#switch);
      lan.#ip('-n', lan.#switch, 'link', 'add', 'br0', 'type', 'bridge');
      lan.#ip('-n', lan.#switch, 'link', 'set', 'br0', 'up');
      hostNames.forEach((name, i) => lan.#addHost(name, i + 10));
    } catch (err) {
      lan.destroy();
      throw err;
    }
    return lan;
  }

  host(name: string): LanHost {
    const h = this.hosts.find((x) => x.name === name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  /** Cuts (or restores) a host's cable at the switch. */
  setLink(name: string, up: boolean): void {
    const i = this.hosts.findIndex((h) => h.name === name);
    this.#ip('-n', this.#switch, 'link', 'set', `port${i}`, up ? 'up' : 'down');
  }

  destroy(): void {
    for (const h of this.hosts) spawnSync('ip', ['netns', 'del', h.netns]);
    spawnSync('ip', ['netns', 'del', this.#switch]);
  }

  #addHost(name: string, octet: number): void {
    const index = this.hosts.length;
    const netns = `p2pd-${name}-${this.#tag}`;
    const address = `${SUBNET}.${octet}`;
    this.#ip('netns', 'add', netns);
    this.#ip('-n', this.#switch, 'link', 'add', `port${index}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    this.#ip('-n', this.#switch, 'link', 'set', `port${index}`, 'master', 'br0', 'up');
    this.#ip('-n', netns, 'link', 'set', 'lo', 'up');
    this.#ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    this.#ip('-n', netns, 'link', 'set', 'eth0', 'up');
    // mDNS needs a route for multicast; the namespace has no default route, and must not get one.
    this.#ip('-n', netns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0');
    this.hosts.push({ name, netns, address, prefix: ['ip', 'netns', 'exec', netns] });
  }

  #ip(...args: string[]): void {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}
