/**
 * Many daemons on one simulated LAN (network namespaces on one bridge): every daemon lists every
 * other within a measured bound, then one daemon sends a file to all the others at once
 * (`p2pd send a,b,c,…`), verified at each. It prints what it measured: time until every daemon
 * sees every other, mDNS packets per second on the bridge while idle, RSS per daemon, and the
 * fan-out's throughput against a send to one peer.
 *
 * P2PD_LAN_FANOUT_HOSTS sets the number of daemons (default 12, to keep CI bounded; 30 is the goal of the issue and is not yet shown to fit CI time); P2PD_LAN_FANOUT_BOUND_S the
 * discovery bound in seconds (default 240, measured on the 2-core CI machine, docs/ARCHITECTURE.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDaemon, sleep } from '../helpers/daemons.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { Lan, lanUnavailable } from '../helpers/lan.js';

const HOSTS = Number(process.env.P2PD_LAN_FANOUT_HOSTS ?? 12);
const BOUND_MS = Number(process.env.P2PD_LAN_FANOUT_BOUND_S ?? 240) * 1000;
/** Daemons started at once: on a loaded 2-core machine, several starting together starve each other. */
const START_BATCH = Number(process.env.P2PD_LAN_FANOUT_START_BATCH ?? 1);
const FILE_BYTES = 4 * 1024 * 1024;

const why = lanUnavailable();
if (why !== null) console.warn(`\n*** LAN suite SKIPPED: ${why} ***\n`);

const names = Array.from({ length: HOSTS }, (_, i) => `h${String(i).padStart(2, '0')}`);

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

function rxPackets(netns: string): number {
  const [link] = JSON.parse(execFileSync('ip', ['-n', netns, '-s', '-j', 'link', 'show', 'eth0'], { timeout: 15_000, encoding: 'utf8' })) as Array<{
    stats64: { rx: { packets: number } };
  }>;
  return link!.stats64.rx.packets;
}

describe(`a LAN of ${HOSTS} daemons`, { skip: why ?? false, timeout: BOUND_MS + 600_000 }, () => {
  let lan: Lan;
  let data: string;
  const daemons: TestDaemon[] = [];
  const figures: Record<string, string | number> = { hosts: HOSTS };

  before(async () => {
    lan = Lan.create(names);
    data = await mkdtemp(join(tmpdir(), 'p2pd-lanfan-'));
    const started = Date.now();
    for (let i = 0; i < HOSTS; i += START_BATCH) {
      const batch = await Promise.all(
        names.slice(i, i + START_BATCH).map((n) =>
          TestDaemon.create({
            name: n,
            accept: 'all',
            interfaces: ['eth0'],
            prefix: lan.host(n).prefix,
            // Peers must not expire while a loaded machine is slow to answer.
            extra: { discovery: { enabled: true, refreshSeconds: 5, expireSeconds: 120 } },
          }),
        ),
      );
      daemons.push(...batch);
      await Promise.all(batch.map((d) => d.start(120_000)));
    }
    figures.startAllSeconds = Math.round((Date.now() - started) / 100) / 10;
  });

  after(async () => {
    console.log(`LAN fan-out figures: ${JSON.stringify(figures)}`);
    for (let i = 0; i < daemons.length; i += 8) await Promise.all(daemons.slice(i, i + 8).map((d) => d.destroy()));
    lan?.destroy();
    if (data) await rm(data, { recursive: true, force: true });
  });

  it(`every daemon lists every other within ${BOUND_MS / 1000} s`, async () => {
    const t0 = Date.now();
    const pending = new Set(daemons);
    while (pending.size > 0 && Date.now() - t0 < BOUND_MS) {
      for (const d of [...pending]) {
        const { peers } = await d.json<{ peers: Array<{ name: string; online: boolean }> }>(['peers']);
        if (new Set(peers.filter((p) => p.online).map((p) => p.name)).size >= HOSTS - 1) pending.delete(d);
      }
      if (pending.size > 0) await sleep(1000);
    }
    figures.allSeeAllSeconds = Math.round((Date.now() - t0) / 100) / 10;
    assert.equal(pending.size, 0, `still missing peers after ${BOUND_MS / 1000} s: ${[...pending].map((d) => d.name).join(', ')}`);
  });

  it('idle: mDNS packets per second on the bridge, RSS per daemon', async () => {
    const ns = lan.host(names[HOSTS - 1]!).netns;
    const p0 = rxPackets(ns);
    await sleep(10_000);
    // Every mDNS packet is multicast: one host's eth0 receives all of them but its own.
    figures.idleMdnsPacketsPerSecond = Math.round((rxPackets(ns) - p0) / 10);
    const rss = daemons.map((d) => rssMiB(d.pid)).filter((n) => !Number.isNaN(n));
    figures.rssMiBMedian = Math.round(rss.sort((a, b) => a - b)[Math.floor(rss.length / 2)] ?? 0);
    figures.rssMiBMax = Math.round(Math.max(...rss));
  });

  it('one daemon sends a file to all the others at once, verified at each', async () => {
    const [hub, ...rest] = daemons;
    const file = join(data, 'fan.bin');
    await writeRandomFile(file, FILE_BYTES);
    const hash = await sha256File(file);

    const one = join(data, 'one.bin');
    await writeRandomFile(one, FILE_BYTES);
    let t = Date.now();
    const single = await hub!.cli(['send', rest[0]!.name, one, '--json'], 300_000);
    assert.equal(single.code, 0, single.stderr);
    const oneSeconds = (Date.now() - t) / 1000;

    t = Date.now();
    const r = await hub!.cli(['send', rest.map((d) => d.name).join(','), file, '--json'], 900_000);
    const fanSeconds = (Date.now() - t) / 1000;
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { outcome: string; transfers: Array<{ state: string }> };
    assert.equal(doc.outcome, 'done');
    assert.equal(doc.transfers.length, HOSTS - 1);
    for (const d of rest) assert.equal(await sha256File(join(d.inbox, 'fan.bin')), hash, `${d.name} has the file`);
    figures.singleSendSeconds = Math.round(oneSeconds * 10) / 10;
    figures.fanoutSeconds = Math.round(fanSeconds * 10) / 10;
    figures.fanoutMBps = Math.round((((HOSTS - 1) * FILE_BYTES) / 1e6 / fanSeconds) * 10) / 10;
    figures.singleMBps = Math.round((FILE_BYTES / 1e6 / oneSeconds) * 10) / 10;
  });
});
