/**
 * A simulated LAN on this machine: a "switch" network namespace holding a bridge, and one
 * namespace per host, each joined to the bridge by a veth pair and given an address from
 * 198.51.100.0/24 (TEST-NET-2: documentation-only, never routed). Nothing is attached to the real
 * interfaces, so no packet can leave the machine. Needs root and iproute2.
 *
 * Link conditions, without `tc netem` (this kernel has none):
 * - bandwidth: a `tbf` qdisc on both ends of a host's cable (`limit`);
 * - loss: `iptables -m statistic --mode random` DROP rules inside the host (`loss`);
 * - latency: the host's cable is moved to a bridge of its own, joined to the main bridge by a
 *   user-space relay between two TAP devices that holds every frame for a while (`delay`,
 *   test/helpers/latency-relay.py; needs python3 and /dev/net/tun);
 * - a cut cable: the switch-side end of the veth set down (`cut` / `restore`): like pulling the
 *   plug, the sockets on both sides see no error at all, only silence.
 * Plus a small tmpfs mounted as a daemon's inbox (`tmpfsInbox`), for disk-full tests.
 *
 * Every command is bounded in time and a failing one throws with its stderr. `destroy()` undoes
 * everything (and runs by itself if the process exits without it).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor, type TestDaemon } from './daemons.js';

export const SUBNET = '198.51.100';

/** The relay lives next to this file's source (tsc does not copy it into dist). */
export const RELAY = fileURLToPath(new URL('../../../test/helpers/latency-relay.py', import.meta.url));

const COMMAND_TIMEOUT_MS = 15_000;
const CLEANUP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface LanHost {
  name: string;
  netns: string;
  address: string;
  /** Command prefix that runs a program inside the host. */
  prefix: string[];
}

/** What a test needs beyond namespaces, veths and a bridge. */
export type LanFeature = 'shaping' | 'loss' | 'delay' | 'tmpfs';

export interface LinkLimit {
  /** Rate in Mbit/s, both directions. */
  rateMbit: number;
  /** Bucket size in bytes; default: 4 ms worth of rate, at least 32 KiB. */
  burst?: number;
  /** Longest a packet may wait in the bucket's queue before it is dropped; default 50 ms. */
  latencyMs?: number;
}

let probed: Map<LanFeature | 'base', string | null> | undefined;

/**
 * Why namespaces (and the features asked for) cannot be had here, or null if they can. Probes
 * once, in a throw-away namespace.
 */
export function lanUnavailable(needs: LanFeature[] = []): string | null {
  probed ??= probe();
  for (const f of ['base' as const, ...needs]) {
    const why = probed.get(f);
    if (why !== null && why !== undefined) return why;
  }
  return null;
}

function probe(): Map<LanFeature | 'base', string | null> {
  const out = new Map<LanFeature | 'base', string | null>();
  const notProbed = 'network namespaces are not available';
  const all: LanFeature[] = ['shaping', 'loss', 'delay', 'tmpfs'];
  const fail = (why: string): Map<LanFeature | 'base', string | null> => {
    out.set('base', why);
    for (const f of all) out.set(f, notProbed);
    return out;
  };
  if (process.getuid?.() !== 0) return fail('not root (network namespaces need root; CI runs as root)');
  const ip = spawnSync('ip', ['-V']);
  if (ip.error !== undefined || ip.status !== 0) return fail('iproute2 (`ip`) is not installed');
  const ns = `p2pd-probe-${randomBytes(3).toString('hex')}`;
  const add = spawnSync('ip', ['netns', 'add', ns], { timeout: COMMAND_TIMEOUT_MS });
  if (add.status !== 0) return fail(`cannot create a network namespace: ${String(add.stderr).trim()}`);
  try {
    const veth = spawnSync('ip', ['-n', ns, 'link', 'add', 'pa', 'type', 'veth', 'peer', 'name', 'pb'], { timeout: COMMAND_TIMEOUT_MS });
    const br = spawnSync('ip', ['-n', ns, 'link', 'add', 'pbr', 'type', 'bridge'], { timeout: COMMAND_TIMEOUT_MS });
    if (veth.status !== 0 || br.status !== 0) return fail(`cannot create veth pairs or bridges: ${String(veth.stderr).trim()} ${String(br.stderr).trim()}`);
    out.set('base', null);

    const tc = spawnSync('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'pa', 'root', 'tbf', 'rate', '100mbit', 'burst', '64kb', 'latency', '50ms'], {
      timeout: COMMAND_TIMEOUT_MS,
    });
    out.set(
      'shaping',
      tc.error !== undefined ? '`tc` (iproute2) is not installed' : tc.status !== 0 ? `tc tbf does not work: ${String(tc.stderr).trim()}` : null,
    );

    const ipt = iptablesIn(ns);
    out.set('loss', ipt === null ? 'no working iptables with the statistic match (iptables, iptables-nft, iptables-legacy)' : null);

    const py = spawnSync('python3', ['-c', 'import fcntl, select, struct'], { timeout: COMMAND_TIMEOUT_MS });
    out.set(
      'delay',
      py.error !== undefined || py.status !== 0
        ? 'python3 is not installed (the latency relay needs it)'
        : !existsSync('/dev/net/tun')
          ? '/dev/net/tun is missing (the latency relay needs TAP devices)'
          : null,
    );

    const dir = mkdtempSync(join(tmpdir(), 'p2pd-probe-'));
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'p2pd-probe', dir], { timeout: COMMAND_TIMEOUT_MS });
    if (mount.status === 0) spawnSync('umount', [dir], { timeout: COMMAND_TIMEOUT_MS });
    rmdirSync(dir);
    out.set('tmpfs', mount.status !== 0 ? `cannot mount a tmpfs: ${String(mount.stderr).trim()}` : null);
  } finally {
    spawnSync('ip', ['netns', 'del', ns], { timeout: COMMAND_TIMEOUT_MS });
  }
  return out;
}

let iptablesBinary: string | null | undefined;

/** The iptables flavour that works here (nft or legacy), checked by adding a rule inside `ns`. */
function iptablesIn(ns: string): string | null {
  if (iptablesBinary !== undefined) return iptablesBinary;
  for (const bin of ['iptables', 'iptables-nft', 'iptables-legacy']) {
    const rule = ['OUTPUT', '-o', 'lo', '-m', 'statistic', '--mode', 'random', '--probability', '0.5', '-j', 'DROP'];
    const r = spawnSync('ip', ['netns', 'exec', ns, bin, '-w', '5', '-A', ...rule], { timeout: COMMAND_TIMEOUT_MS });
    if (r.status === 0) {
      spawnSync('ip', ['netns', 'exec', ns, bin, '-w', '5', '-D', ...rule], { timeout: COMMAND_TIMEOUT_MS });
      iptablesBinary = bin;
      return bin;
    }
  }
  iptablesBinary = null;
  return null;
}

interface HostState extends LanHost {
  /** Name of the switch-side veth end. */
  port: string;
  /** Loss rules in force (iptables arguments after -A/-D). */
  lossRules: string[][];
  relay?: { process: ChildProcess; bridge: string; delayMs: number };
}

export class Lan {
  readonly #tag = randomBytes(3).toString('hex');
  readonly #switch: string;
  readonly #hosts: HostState[] = [];
  readonly #mounts: string[] = [];
  #destroyed = false;
  #extraAddresses = 0;
  readonly #onExit = (): void => this.destroy();
  /** Ctrl-C or a kill of the test process: clean up, then let the signal do what it would have. */
  readonly #onSignal = (signal: NodeJS.Signals): void => {
    this.destroy();
    process.kill(process.pid, signal);
  };

  constructor() {
    this.#switch = `p2pd-sw-${this.#tag}`;
  }

  get hosts(): LanHost[] {
    return this.#hosts.map(({ name, netns, address, prefix }) => ({ name, netns, address, prefix }));
  }

  static create(hostNames: string[]): Lan {
    const lan = new Lan();
    // A test process that ends without its after() hooks still leaves nothing behind.
    process.once('exit', lan.#onExit);
    for (const signal of CLEANUP_SIGNALS) process.once(signal, lan.#onSignal);
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
    const { netns, address, prefix } = this.#host(name);
    return { name, netns, address, prefix };
  }

  /** Cuts (or restores) a host's cable at the switch. */
  setLink(name: string, up: boolean): void {
    this.#ip('-n', this.#switch, 'link', 'set', this.#host(name).port, up ? 'up' : 'down');
  }

  /**
   * Pulls a host's cable out at the switch. Neither side gets a socket error: TCP just stops
   * hearing back, until the daemons' own idle timeouts notice.
   */
  cut(name: string): void {
    this.setLink(name, false);
  }

  /** Plugs the cable back in. */
  restore(name: string): void {
    this.setLink(name, true);
  }

  /**
   * Limits the host's cable to `rateMbit` in each direction: a tbf qdisc on the switch-side end
   * (traffic towards the host) and one on the host's eth0 (traffic from it). Calling it again
   * changes the limit.
   */
  limit(name: string, limit: LinkLimit): void {
    const h = this.#host(name);
    const rateBytes = (limit.rateMbit * 1_000_000) / 8;
    const burst = Math.max(32 * 1024, Math.round(limit.burst ?? rateBytes * 0.004));
    const args = ['root', 'tbf', 'rate', `${limit.rateMbit}mbit`, 'burst', String(burst), 'latency', `${limit.latencyMs ?? 50}ms`];
    this.#run('tc', ['-n', this.#switch, 'qdisc', 'replace', 'dev', h.port, ...args]);
    this.#run('tc', ['-n', h.netns, 'qdisc', 'replace', 'dev', 'eth0', ...args]);
  }

  /** Removes a `limit`. */
  unlimit(name: string): void {
    const h = this.#host(name);
    spawnSync('tc', ['-n', this.#switch, 'qdisc', 'del', 'dev', h.port, 'root'], { timeout: COMMAND_TIMEOUT_MS });
    spawnSync('tc', ['-n', h.netns, 'qdisc', 'del', 'dev', 'eth0', 'root'], { timeout: COMMAND_TIMEOUT_MS });
  }

  /**
   * Drops each packet into and each packet out of the host's eth0 with probability
   * `percent` / 100 (iptables statistic match inside the host). 0 removes the loss.
   */
  loss(name: string, percent: number): void {
    if (!(percent >= 0 && percent <= 100)) throw new RangeError(`loss must be a percentage, not ${percent}`);
    const h = this.#host(name);
    const bin = iptablesIn(h.netns);
    if (bin === null) throw new Error('no working iptables with the statistic match (iptables, iptables-nft, iptables-legacy)');
    for (const rule of h.lossRules) this.#run('ip', ['netns', 'exec', h.netns, bin, '-w', '5', '-D', ...rule]);
    h.lossRules = [];
    if (percent === 0) return;
    const p = (percent / 100).toFixed(6);
    for (const rule of [
      ['INPUT', '-i', 'eth0', '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP'],
      ['OUTPUT', '-o', 'eth0', '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP'],
    ]) {
      this.#run('ip', ['netns', 'exec', h.netns, bin, '-w', '5', '-A', ...rule]);
      h.lossRules.push(rule);
    }
  }

  /**
   * Adds `ms` of latency to the host's cable, each way, like `netem delay` on that link: every
   * frame to or from the host waits `ms` in a user-space relay (so the round trip to any other
   * host grows by 2 × ms; between two delayed hosts by 4 × ms). The host stays on the same L2
   * segment: ARP and mDNS multicast pass the relay too. Call once per host.
   */
  async delay(name: string, ms: number): Promise<void> {
    const h = this.#host(name);
    if (h.relay !== undefined) throw new Error(`${name} already has a delay of ${h.relay.delayMs} ms`);
    if (!(ms > 0 && ms <= 10_000)) throw new RangeError(`delay must be in (0, 10000] ms, not ${ms}`);
    const index = this.#hosts.indexOf(h);
    const bridge = `seg${index}`;
    const tapSwitch = `rly${index}a`;
    const tapHost = `rly${index}b`;
    this.#ip('-n', this.#switch, 'link', 'add', bridge, 'type', 'bridge');
    this.#ip('-n', this.#switch, 'link', 'set', bridge, 'up');
    const relay = spawn('ip', ['netns', 'exec', this.#switch, 'python3', RELAY, tapSwitch, tapHost, String(ms)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    h.relay = { process: relay, bridge, delayMs: ms };
    let out = '';
    let err = '';
    relay.stdout.on('data', (d: Buffer) => (out += d.toString()));
    relay.stderr.on('data', (d: Buffer) => (err += d.toString()));
    relay.on('error', (e) => (err += String(e)));
    // Never what keeps a test process alive.
    relay.unref();
    for (const s of [relay.stdin, relay.stdout, relay.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    try {
      await waitFor(() => out.includes('ready') || relay.exitCode !== null, 10_000, `the latency relay for ${name} to start`);
      if (!out.includes('ready')) throw new Error(`the latency relay for ${name} exited with ${relay.exitCode}: ${err.trim()}`);
      this.#ip('-n', this.#switch, 'link', 'set', tapSwitch, 'master', 'br0', 'up');
      this.#ip('-n', this.#switch, 'link', 'set', tapHost, 'master', bridge, 'up');
      this.#ip('-n', this.#switch, 'link', 'set', h.port, 'nomaster');
      this.#ip('-n', this.#switch, 'link', 'set', h.port, 'master', bridge);
    } catch (e) {
      relay.kill('SIGKILL');
      throw e;
    }
    // The relay dies with its stdin (this process); a relay that dies early is a broken test.
    relay.on('exit', (code, signal) => {
      if (!this.#destroyed) console.error(`latency relay for ${name} exited (${code ?? signal}): ${err.trim()}`);
    });
  }

  /**
   * Bytes that have crossed the host's cable so far, as its eth0 counts them (whole frames:
   * headers, TLS, mDNS and all). The difference over a transfer shows how much was really sent.
   */
  traffic(name: string): { rxBytes: number; txBytes: number } {
    const h = this.#host(name);
    const [link] = JSON.parse(this.#run('ip', ['-n', h.netns, '-s', '-j', 'link', 'show', 'eth0'])) as Array<{
      stats64: { rx: { bytes: number }; tx: { bytes: number } };
    }>;
    return { rxBytes: link!.stats64.rx.bytes, txBytes: link!.stats64.tx.bytes };
  }

  /**
   * mDNS packets (UDP to port 5353) that have reached the host's eth0 so far, counted by an
   * iptables rule added on the first call (its packet counter). Every mDNS packet is multicast,
   * so a host receives all of them but its own: on a host with no daemon, this is everything sent
   * on the LAN. Without a working iptables: the eth0 receive counter (mDNS plus the odd ARP).
   */
  mdnsPackets(name: string): number {
    const h = this.#host(name);
    const bin = iptablesIn(h.netns);
    if (bin === null) {
      const [link] = JSON.parse(this.#run('ip', ['-n', h.netns, '-s', '-j', 'link', 'show', 'eth0'])) as Array<{ stats64: { rx: { packets: number } } }>;
      return link!.stats64.rx.packets;
    }
    // In raw PREROUTING, before the routing step drops multicast for groups the host has not joined.
    const rule = ['PREROUTING', '-i', 'eth0', '-p', 'udp', '--dport', '5353', '-m', 'comment', '--comment', 'p2pd-mdns-count', '-j', 'ACCEPT'];
    const listing = (): string => this.#run('ip', ['netns', 'exec', h.netns, bin, '-w', '5', '-t', 'raw', '-L', 'PREROUTING', '-v', '-x', '-n']);
    let out = listing();
    if (!out.includes('p2pd-mdns-count')) {
      this.#run('ip', ['netns', 'exec', h.netns, bin, '-w', '5', '-t', 'raw', '-I', ...rule]);
      out = listing();
    }
    const line = out.split('\n').find((l) => l.includes('p2pd-mdns-count'));
    return Number(line?.trim().split(/\s+/)[0] ?? NaN);
  }

  /**
   * Gives the host `count` more addresses on its eth0 (from .150 up), for a test that must send
   * from many source addresses; returns them.
   */
  addAddresses(name: string, count: number): string[] {
    const h = this.#host(name);
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const address = `${SUBNET}.${150 + this.#extraAddresses++}`;
      if (this.#extraAddresses > 100) throw new RangeError('at most 100 extra addresses on one LAN');
      this.#ip('-n', h.netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      out.push(address);
    }
    return out;
  }

  /**
   * Mounts a tmpfs of `sizeBytes` at the daemon's inbox (call before the daemon starts). The mount
   * is in this machine's mount namespace, on the daemon's temp dir; `destroy()` unmounts it, so
   * call `lan.destroy()` before `daemon.destroy()` removes the directory.
   */
  tmpfsInbox(daemon: Pick<TestDaemon, 'inbox'>, sizeBytes: number): void {
    mkdirSync(daemon.inbox, { recursive: true, mode: 0o700 });
    this.#run('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil(sizeBytes)},mode=0700`, `p2pd-inbox-${this.#tag}`, daemon.inbox]);
    this.#mounts.push(daemon.inbox);
  }

  /** Unmounts what `tmpfsInbox` mounted at `path` (it may be busy: then lazily). */
  unmount(path: string): void {
    const i = this.#mounts.indexOf(path);
    if (i === -1) return;
    this.#mounts.splice(i, 1);
    const r = spawnSync('umount', [path], { timeout: COMMAND_TIMEOUT_MS });
    if (r.status !== 0) {
      const lazy = spawnSync('umount', ['-l', path], { timeout: COMMAND_TIMEOUT_MS });
      if (lazy.status !== 0) console.error(`could not unmount ${path}: ${String(r.stderr).trim()} / ${String(lazy.stderr).trim()}`);
    }
  }

  /** Removes everything: relays, mounts, namespaces (with their qdiscs and iptables rules). */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    process.removeListener('exit', this.#onExit);
    for (const signal of CLEANUP_SIGNALS) process.removeListener(signal, this.#onSignal);
    for (const h of this.#hosts) h.relay?.process.kill('SIGKILL');
    for (const m of [...this.#mounts]) this.unmount(m);
    for (const h of this.#hosts) spawnSync('ip', ['netns', 'del', h.netns], { timeout: COMMAND_TIMEOUT_MS });
    spawnSync('ip', ['netns', 'del', this.#switch], { timeout: COMMAND_TIMEOUT_MS });
  }

  #host(name: string): HostState {
    const h = this.#hosts.find((x) => x.name === name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  #addHost(name: string, octet: number): void {
    const index = this.#hosts.length;
    const netns = `p2pd-${name}-${this.#tag}`;
    const address = `${SUBNET}.${octet}`;
    const port = `port${index}`;
    this.#ip('netns', 'add', netns);
    // Registered at once, so that destroy() removes a half-made host too.
    this.#hosts.push({ name, netns, address, prefix: ['ip', 'netns', 'exec', netns], port, lossRules: [] });
    this.#ip('-n', this.#switch, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    this.#ip('-n', this.#switch, 'link', 'set', port, 'master', 'br0', 'up');
    this.#ip('-n', netns, 'link', 'set', 'lo', 'up');
    this.#ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    this.#ip('-n', netns, 'link', 'set', 'eth0', 'up');
    // Wire-sized packets, as on a real cable: without this the veth carries 64 KiB GSO/GRO
    // super-packets, and a loss rule would drop 40 segments at once (and far too rarely). Best
    // effort: an older iproute2 or kernel cannot set it, and the LAN still works without it.
    spawnSync('ip', ['-n', netns, 'link', 'set', 'eth0', 'gso_max_segs', '1', 'gro_max_size', '1500'], { timeout: COMMAND_TIMEOUT_MS });
    spawnSync('ip', ['-n', this.#switch, 'link', 'set', port, 'gso_max_segs', '1', 'gro_max_size', '1500'], { timeout: COMMAND_TIMEOUT_MS });
    // mDNS needs a route for multicast; the namespace has no default route, and must not get one.
    this.#ip('-n', netns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0');
  }

  #ip(...args: string[]): void {
    this.#run('ip', args);
  }

  #run(cmd: string, args: string[]): string {
    try {
      return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' });
    } catch (err) {
      const e = err as { stderr?: Buffer; status?: number | null; signal?: string | null; message: string };
      const stderr = e.stderr?.toString().trim() ?? '';
      throw new Error(`\`${cmd} ${args.join(' ')}\` failed (${e.status ?? e.signal ?? 'error'}): ${stderr || e.message}`);
    }
  }
}

// ---- Helpers for tests on the LAN ---------------------------------------------------------

/** A transfer as `p2pd status --json` shows it (the fields the LAN tests read). */
export interface TransferInfo {
  id: string;
  direction: 'in' | 'out';
  peer: { id: string | null; name: string };
  state: string;
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
  bytesPerSecond: number;
  endedAt: string | null;
  error: { code: string; message: string } | null;
  resumedFrom?: number;
  attempts?: number;
}

/** The daemon's transfers (running first, then history); [] when its control socket does not answer. */
export async function transfers(daemon: TestDaemon): Promise<TransferInfo[]> {
  const r = await daemon.cli(['status', '--json'], 10_000);
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout) as { transfers: TransferInfo[] }).transfers;
}

/**
 * Waits until a running transfer on `daemon` matches `filter` and has moved at least `fraction`
 * of its bytes; returns it.
 */
export async function waitForProgress(
  daemon: TestDaemon,
  fraction: number,
  options: { filter?: (t: TransferInfo) => boolean; timeoutMs?: number } = {},
): Promise<TransferInfo> {
  const filter = options.filter ?? (() => true);
  let found: TransferInfo | undefined;
  await waitFor(
    async () => {
      found = (await transfers(daemon)).find(
        (t) => (t.state === 'sending' || t.state === 'receiving') && filter(t) && t.bytesTotal > 0 && t.bytesDone >= fraction * t.bytesTotal,
      );
      return found !== undefined;
    },
    options.timeoutMs ?? 60_000,
    `${daemon.name} to have moved ${Math.round(fraction * 100)} % of a transfer`,
  );
  return found!;
}

/** Waits until each daemon sees the other over mDNS. */
export async function waitForEachOther(a: TestDaemon, b: TestDaemon, timeoutMs = 30_000): Promise<void> {
  await Promise.all([a.waitForPeer(b.name, timeoutMs), b.waitForPeer(a.name, timeoutMs)]);
}

/** A deterministic pseudo-random source (mulberry32) so that a failing random run can be replayed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
