/**
 * Where the two ends of every method run. As root: two network namespaces, alice (the sender) and
 * bob (the receiver), joined by a bridge through veth pairs (the LAN suite's harness,
 * test/helpers/lan.ts), so that each end has its own network stack and nothing can leave the
 * machine. Otherwise both ends on 127.0.0.1, as before. The file system is shared either way:
 * only the network differs.
 */
import { spawnSync } from 'node:child_process';
import { Lan, lanUnavailable } from '../test/helpers/lan.js';
import type { Lifecycle } from './lifecycle.js';

export interface Side {
  name: 'alice' | 'bob';
  /** Prepended to a command to run it on this side: [] or ['ip', 'netns', 'exec', <ns>]. */
  prefix: string[];
  /** This side's address, which the other side dials. */
  address: string;
  /** The interfaces p2pd announces on. */
  interfaces: string[];
}

export interface Topology {
  kind: 'lan' | 'loopback';
  /** One line for the report: what the link is. */
  description: string;
  sender: Side;
  receiver: Side;
  /** Limits the link to `mbit` each way (tc tbf on both ends of both cables); null removes it. */
  limit(mbit: number | null): void;
}

/** `cmd args` run on `side`: `ip netns exec` execs the program, so the pid is the program's own. */
export function onSide(side: Side, cmd: string, args: readonly string[]): [string, string[]] {
  return side.prefix.length === 0 ? [cmd, [...args]] : [side.prefix[0]!, [...side.prefix.slice(1), cmd, ...args]];
}

const COMMAND_TIMEOUT_MS = 15_000;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function loopback(why: string): Topology {
  const side = (name: 'alice' | 'bob'): Side => ({ name, prefix: [], address: '127.0.0.1', interfaces: ['lo'] });
  return {
    kind: 'loopback',
    description: `127.0.0.1 (${why})`,
    sender: side('alice'),
    receiver: side('bob'),
    limit: () => {
      throw new Error('--tbf needs the namespace LAN (run as root)');
    },
  };
}

/**
 * The harness makes every packet wire-sized (no GSO/GRO) so that its loss rules drop single
 * packets. A real NIC segments and coalesces in hardware, so per-packet work in the kernel is not
 * what a LAN costs: the bench gives the veths back their default offload sizes.
 */
function restoreOffloads(lan: Lan): void {
  const alice = lan.host('alice').netns;
  const tag = alice.slice(alice.lastIndexOf('-') + 1);
  const switchNs = `p2pd-sw-${tag}`;
  const set = (ns: string, dev: string): void => {
    spawnSync('ip', ['-n', ns, 'link', 'set', dev, 'gso_max_segs', '65535', 'gro_max_size', '65536'], { timeout: COMMAND_TIMEOUT_MS });
  };
  for (const name of ['alice', 'bob']) set(lan.host(name).netns, 'eth0');
  for (const port of ['port0', 'port1']) set(switchNs, port);
}

/** The namespace LAN when it can be had (root, iproute2), unless `wanted` is false. */
export function makeTopology(life: Lifecycle, wanted: boolean, log: (msg: string) => void): Topology {
  if (!wanted) return loopback('--loopback');
  const base = lanUnavailable();
  if (base !== null) return loopback(base);
  const why = lanUnavailable(['shaping']);
  // The harness restores the network and re-raises on a signal; the bench's own handlers must
  // run first and clean up in order, so the harness's signal handlers are taken off again (its
  // exit handler stays: the last resort if the bench dies without cleaning up).
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const lan = Lan.create(['alice', 'bob']);
  for (const s of SIGNALS) for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.removeListener(s, l);
  life.defer('remove the network namespaces', () => lan.destroy());
  restoreOffloads(lan);
  const side = (name: 'alice' | 'bob'): Side => {
    const h = lan.host(name);
    return { name, prefix: h.prefix, address: h.address, interfaces: ['eth0'] };
  };
  log(`namespace LAN: alice ${lan.host('alice').address} and bob ${lan.host('bob').address}, one bridge, veth pairs`);
  return {
    kind: 'lan',
    description: 'two network namespaces (alice, bob) joined by a bridge through veth pairs',
    sender: side('alice'),
    receiver: side('bob'),
    limit: (mbit) => {
      if (why !== null) throw new Error(`--tbf: ${why}`);
      for (const name of ['alice', 'bob']) {
        if (mbit === null) lan.unlimit(name);
        else lan.limit(name, { rateMbit: mbit });
      }
    },
  };
}
