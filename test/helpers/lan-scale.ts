/**
 * Many daemons on one simulated LAN, shared by the LAN test (test/lan/lan-fanout.test.ts) and the
 * bench (bench/scale.ts): start them all at once, time until every daemon lists every other, idle
 * mDNS packets per second, RSS per daemon, and a fan-out from one to all against a send to one.
 *
 * Discovery is timed from the daemons' own logs ("peer appeared", with the daemon's timestamp),
 * which costs nothing while it runs; the control API (`p2pd peers --json`) then confirms it once
 * per daemon. Polling `p2pd peers` on dozens of daemons would itself load the machine.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon, sleep } from './daemons.js';
import { sha256File, writeRandomFile } from './files.js';
import { Lan } from './lan.js';

/** The host with no daemon whose eth0 counts the LAN's mDNS packets. */
export const QUIET_HOST = 'quiet';

export interface ScaleLan {
  lan: Lan;
  daemons: TestDaemon[];
  /** From the first spawn until every daemon logged "ready". */
  startSeconds: number;
  destroy(): Promise<void>;
}

/** The product's discovery defaults (TestDaemon's are 1 s / 5 s, for fast small tests). */
export const DEFAULT_DISCOVERY = { enabled: true, refreshSeconds: 30, expireSeconds: 100 };

export async function startScaleLan(
  hosts: number,
  options: { startTimeoutMs?: number; startConcurrency?: number; discovery?: object } = {},
): Promise<ScaleLan> {
  const names = Array.from({ length: hosts }, (_, i) => `h${String(i).padStart(2, '0')}`);
  const lan = Lan.create([...names, QUIET_HOST]);
  const daemons: TestDaemon[] = [];
  const destroy = async (): Promise<void> => {
    await Promise.all(daemons.map((d) => d.destroy()));
    lan.destroy();
  };
  try {
    daemons.push(
      ...(await Promise.all(
        names.map((n) =>
          TestDaemon.create({
            name: n,
            accept: 'all',
            interfaces: ['eth0'],
            prefix: lan.host(n).prefix,
            extra: { discovery: options.discovery ?? DEFAULT_DISCOVERY, dashboard: { enabled: false } },
          }),
        ),
      )),
    );
    const t = Date.now();
    // Concurrently, `startConcurrency` at a time (the next starts as soon as one is ready: a
    // herd of fifty Node processes loading at once on 2 cores would push some past any timeout),
    // each waiting for its own "ready" log line rather than polling over the CLI.
    const queue = [...daemons];
    const worker = async (): Promise<void> => {
      for (let d = queue.shift(); d !== undefined; d = queue.shift()) await d.start(options.startTimeoutMs ?? 120_000, { fromLog: true });
    };
    await Promise.all(Array.from({ length: options.startConcurrency ?? 8 }, worker));
    return { lan, daemons, startSeconds: (Date.now() - t) / 1000, destroy };
  } catch (err) {
    await destroy();
    throw err;
  }
}

interface LogLine {
  time: string;
  msg: string;
  peer?: string;
}

function logLines(d: TestDaemon): LogLine[] {
  const out: LogLine[] = [];
  for (const line of d.log.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // A line cut by the pipe, or not pino's.
    }
  }
  return out;
}

/** When the daemon logged "ready", and when it first listed `others` peers at once (null: not yet). */
export function discoveryTimes(d: TestDaemon, others: number): { ready: number; allSeen: number | null } {
  const present = new Set<string>();
  let ready = NaN;
  let allSeen: number | null = null;
  for (const l of logLines(d)) {
    if (l.msg.startsWith('p2pd ') && l.msg.includes(' ready: ')) ready = Date.parse(l.time);
    if (l.msg === 'peer appeared' && l.peer !== undefined) present.add(l.peer);
    if (l.msg === 'peer gone' && l.peer !== undefined) present.delete(l.peer);
    if (allSeen === null && present.size >= others) allSeen = Date.parse(l.time);
  }
  return { ready, allSeen };
}

/**
 * Waits (reading logs only) until every daemon has listed every other; returns the seconds from
 * the last daemon's "ready" to the last daemon listing all, or throws after `boundMs`.
 */
export async function waitAllSeeAll(daemons: TestDaemon[], boundMs: number): Promise<{ seconds: number; fromFirstReadySeconds: number }> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const times = daemons.map((d) => discoveryTimes(d, daemons.length - 1));
    const lastReady = Math.max(...times.map((t) => t.ready));
    const firstReady = Math.min(...times.map((t) => t.ready));
    if (times.every((t) => t.allSeen !== null)) {
      const last = Math.max(...times.map((t) => t.allSeen!));
      return { seconds: Math.max(0, last - lastReady) / 1000, fromFirstReadySeconds: (last - firstReady) / 1000 };
    }
    if (Date.now() > deadline) {
      const missing = daemons.filter((_, i) => times[i]!.allSeen === null).map((d) => d.name);
      throw new Error(`after ${boundMs / 1000} s from the last start, ${missing.length} daemons still miss peers: ${missing.join(', ')}`);
    }
    await sleep(250);
  }
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function inBatches<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += limit) out.push(...(await Promise.all(items.slice(i, i + limit).map(fn))));
  return out;
}

/**
 * Names of the peers each daemon's `p2pd peers --json` lists online (a few CLI calls at a time:
 * each is a Node process, a second or more of CPU on a loaded machine).
 */
export async function onlinePeers(daemons: TestDaemon[]): Promise<Map<string, Set<string>>> {
  const lists = await inBatches(daemons, 3, async (d) => {
    const { peers } = await d.json<{ peers: Array<{ name: string; online: boolean }> }>(['peers']);
    return [d.name, new Set(peers.filter((p) => p.online).map((p) => p.name))] as const;
  });
  return new Map(lists);
}

/** mDNS packets per second the quiet host receives over `seconds`. */
export async function idleMdnsPerSecond(lan: Lan, seconds: number): Promise<number> {
  const p0 = lan.mdnsPackets(QUIET_HOST);
  await sleep(seconds * 1000);
  return (lan.mdnsPackets(QUIET_HOST) - p0) / seconds;
}

export function rssMiB(d: TestDaemon): number {
  if (d.pid === undefined) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${d.pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

export interface FanoutFigures {
  singleSeconds: number;
  fanoutSeconds: number;
  singleMBps: number;
  fanoutMBps: number;
}

/**
 * `hub` sends a `bytes` file to `rest[0]` alone, then another to all of `rest` at once; every
 * copy is checked by hash. Throws on any failure.
 */
export async function fanout(hub: TestDaemon, rest: TestDaemon[], dataDir: string, bytes: number): Promise<FanoutFigures> {
  const one = join(dataDir, 'one.bin');
  const fan = join(dataDir, 'fan.bin');
  await writeRandomFile(one, bytes);
  await writeRandomFile(fan, bytes);
  let t = Date.now();
  const single = await hub.cli(['send', rest[0]!.name, one, '--json'], 300_000);
  if (single.code !== 0) throw new Error(`send to one peer failed (${single.code}): ${single.stderr}`);
  const singleSeconds = (Date.now() - t) / 1000;
  t = Date.now();
  const r = await hub.cli(['send', rest.map((d) => d.name).join(','), fan, '--json'], 900_000);
  const fanoutSeconds = (Date.now() - t) / 1000;
  if (r.code !== 0) throw new Error(`fan-out failed (${r.code}): ${r.stderr}\n${r.stdout.slice(0, 4000)}`);
  const doc = JSON.parse(r.stdout) as { outcome: string; transfers: unknown[] };
  if (doc.outcome !== 'done' || doc.transfers.length !== rest.length) throw new Error(`fan-out outcome ${doc.outcome} with ${doc.transfers.length} transfers`);
  const want = await sha256File(fan);
  const wrong: string[] = [];
  for (const d of rest) if ((await sha256File(join(d.inbox, 'fan.bin')).catch(() => 'missing')) !== want) wrong.push(d.name);
  if (wrong.length > 0) throw new Error(`the fanned-out file is missing or different at ${wrong.join(', ')}`);
  if ((await sha256File(join(rest[0]!.inbox, 'one.bin'))) !== (await sha256File(one))) throw new Error('the single send arrived damaged');
  return {
    singleSeconds,
    fanoutSeconds,
    singleMBps: bytes / 1e6 / singleSeconds,
    fanoutMBps: (rest.length * bytes) / 1e6 / fanoutSeconds,
  };
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
