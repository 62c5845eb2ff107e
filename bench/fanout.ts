/**
 * Memory and speed of a send to several peers, with real daemons on loopback: the sender's RSS
 * (sampled every 100 ms, and its high-water mark) while it sends one file to 1 peer, then to N
 * peers at once. Each transfer reads the file itself; this shows whether memory stays flat.
 *
 *   node dist/bench/fanout.js [--bytes 1073741824] [--peers 3]
 */
import { rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TestDaemon, sleep } from '../test/helpers/daemons.js';
import { writeRandomFile } from '../test/helpers/files.js';

const { values } = parseArgs({ options: { bytes: { type: 'string', default: String(1024 ** 3) }, peers: { type: 'string', default: '3' } } });
const BYTES = Number(values.bytes);
const PEERS = Number(values.peers);

function status(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

async function measure(sender: TestDaemon, args: string[]): Promise<{ seconds: number; peakRss: number; code: number | null }> {
  const pid = sender.pid!;
  let peak = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, status(pid, 'VmRSS'));
      await sleep(100);
    }
  })();
  const t = Date.now();
  const r = await sender.cli(args, 1_800_000);
  running = false;
  await sampler;
  if (r.code !== 0) console.error(r.stderr);
  return { seconds: (Date.now() - t) / 1000, peakRss: peak, code: r.code };
}

const MiB = 1024 * 1024;
const tag = Math.random().toString(16).slice(2, 6);
const sender = await TestDaemon.create({ name: `fs-${tag}` });
const peers = await Promise.all(Array.from({ length: PEERS }, (_, i) => TestDaemon.create({ name: `fr${i}-${tag}`, accept: 'all' })));
const all = [sender, ...peers];
try {
  // All at once, each waiting for its "ready" log line (polling the CLI is what starved them).
  await Promise.all(all.map((d) => d.start(120_000, { fromLog: true })));
  await Promise.all(peers.map((p) => sender.waitForPeer(p.name, 60_000)));
  const file = join(sender.dir, 'big.bin');
  await writeRandomFile(file, BYTES);
  const idle = status(sender.pid!, 'VmRSS');
  const one = await measure(sender, ['send', peers[0]!.name, file]);
  for (const p of peers) await rm(join(p.inbox, 'big.bin'), { force: true });
  const many = await measure(sender, ['send', peers.map((p) => p.name).join(','), file]);
  const report = {
    bytes: BYTES,
    peers: PEERS,
    senderIdleRssMiB: Math.round(idle / MiB),
    single: { exit: one.code, seconds: one.seconds, MBps: Math.round(BYTES / 1e6 / one.seconds), peakRssMiB: Math.round(one.peakRss / MiB) },
    fanout: { exit: many.code, seconds: many.seconds, MBps: Math.round((PEERS * BYTES) / 1e6 / many.seconds), peakRssMiB: Math.round(many.peakRss / MiB) },
    senderHwmMiB: Math.round(status(sender.pid!, 'VmHWM') / MiB),
  };
  console.log(JSON.stringify(report, null, 2));
} finally {
  await Promise.all(all.map((d) => d.destroy()));
}
