/**
 * Two real p2pd daemons (the integration tests' TestDaemon: port 0, mDNS on bob's and alice's
 * namespace interfaces, or on "lo" only), bob trusting alice, and `p2pd send bob <path>` timed
 * from the CLI's start (on alice's side) to its exit.
 */
import { rmSync } from 'node:fs';
import { TestDaemon, MAIN } from '../test/helpers/daemons.js';
import type { Lifecycle } from './lifecycle.js';
import { cpuSeconds, peakRssBytes, rssBytes, RssSampler, runOk } from './proc.js';
import { onSide, type Topology } from './topology.js';

export interface P2pdSend {
  /** From the CLI's spawn to its exit with status 0: every byte verified and fsynced at bob. */
  seconds: number;
  /** The rate alice's daemon reports (`transfer.bytesPerSecond`): from the first data byte on. */
  daemonBytesPerSecond: number;
  bytes: number;
  files: number;
  /** CPU seconds each daemon spent during the send. */
  cpuSeconds: { alice: number | null; bob: number | null };
  /** Highest VmRSS seen by sampling every 100 ms during the send. */
  sampledRssBytes: { alice: number; bob: number };
}

interface SendJson {
  transfer: { state: string; bytesDone: number; filesDone: number; bytesPerSecond: number; error: { code: string; message: string } | null };
}

export class P2pdPair {
  readonly alice: TestDaemon;
  readonly bob: TestDaemon;
  readonly #life: Lifecycle;
  readonly #topo: Topology;
  readonly #bobId: string;
  /** RSS of each daemon once started, before any transfer. */
  idleRssBytes: { alice: number | null; bob: number | null } = { alice: null, bob: null };

  private constructor(life: Lifecycle, topo: Topology, alice: TestDaemon, bob: TestDaemon, bobId: string) {
    this.#life = life;
    this.#topo = topo;
    this.#bobId = bobId;
    this.alice = alice;
    this.bob = bob;
  }

  static async start(life: Lifecycle, topo: Topology, log: (msg: string) => void): Promise<P2pdPair> {
    const daemons: TestDaemon[] = [];
    for (const side of [topo.sender, topo.receiver]) {
      const name = side.name;
      // logLevel info is the shipped default; the tests' debug level would cost CPU per file.
      const d = await TestDaemon.create({ name, interfaces: side.interfaces, prefix: side.prefix, extra: { logLevel: 'info' } });
      daemons.push(d);
      life.atExit(() => rmSync(d.dir, { recursive: true, force: true }));
      life.defer(`daemon ${name}`, async () => {
        const pid = d.pid;
        await d.destroy();
        life.untrackPid(pid);
      });
    }
    const [alice, bob] = daemons as [TestDaemon, TestDaemon];
    log(`starting p2pd daemons alice and bob (mDNS on ${topo.sender.interfaces.join(', ')} only)`);
    const starting = [alice.start(), bob.start()];
    // TestDaemon.start() spawns at once: the pids are known before it resolves.
    life.trackPid(alice.pid);
    life.trackPid(bob.pid);
    await Promise.all(starting);
    life.signal.throwIfAborted();
    log('waiting for discovery over mDNS');
    await Promise.all([alice.waitForPeer('bob'), bob.waitForPeer('alice')]);
    life.signal.throwIfAborted();
    // By id, not by name: on loopback other daemons of this machine (a test run) may be called
    // alice and bob too.
    const [aliceId, bobId] = await Promise.all([alice.id(), bob.id()]);
    const trust = await bob.cli(['trust', aliceId]);
    if (trust.code !== 0) throw new Error(`p2pd trust alice failed (${trust.code}): ${trust.stderr}`);
    const pair = new P2pdPair(life, topo, alice, bob, bobId);
    pair.idleRssBytes = { alice: await rssBytes(alice.pid!), bob: await rssBytes(bob.pid!) };
    return pair;
  }

  /** Sends `path` (a file or a directory) from alice to bob. */
  async send(path: string, signal: AbortSignal): Promise<P2pdSend> {
    const alicePid = this.alice.pid!;
    const bobPid = this.bob.pid!;
    const cpuBefore = [await cpuSeconds(alicePid), await cpuSeconds(bobPid)];
    const sampler = new RssSampler([alicePid, bobPid]);
    const args = [MAIN, 'send', this.#bobId, path, '--json', '--config', this.alice.configPath];
    const r = await runOk(this.#life, ...onSide(this.#topo.sender, process.execPath, args), { signal }).finally(() => sampler.stop());
    const sampled = await sampler.stop();
    const cpuAfter = [await cpuSeconds(alicePid), await cpuSeconds(bobPid)];
    const out = JSON.parse(r.stdout) as SendJson;
    const t = out.transfer;
    if (t.state !== 'done') throw new Error(`p2pd send ended ${t.state}: ${t.error?.code ?? ''} ${t.error?.message ?? ''}`);
    const delta = (i: number): number | null => (cpuBefore[i] == null || cpuAfter[i] == null ? null : Math.round((cpuAfter[i]! - cpuBefore[i]!) * 100) / 100);
    return {
      seconds: r.seconds,
      daemonBytesPerSecond: t.bytesPerSecond,
      bytes: t.bytesDone,
      files: t.filesDone,
      cpuSeconds: { alice: delta(0), bob: delta(1) },
      sampledRssBytes: { alice: sampled[0]!, bob: sampled[1]! },
    };
  }

  /** Each daemon's peak resident set size so far (VmHWM): start-up and every transfer until now. */
  async peakRss(): Promise<{ alice: number | null; bob: number | null }> {
    return { alice: await peakRssBytes(this.alice.pid!), bob: await peakRssBytes(this.bob.pid!) };
  }
}
